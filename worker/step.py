"""One denoising step, written out: what the diffusers pipelines do for SDXL Turbo, minus the loop.

With one step an Euler-family scheduler reduces to a few constants per timestep: where the
latent starts, how the UNet input is scaled, and x0 = sample - sigma * eps. They are read once
from the scheduler (on the CPU), so a call is UNet, arithmetic and decoder only: the same code
runs eagerly on CPU and MPS and is captured into CUDA graphs on CUDA (no host sync inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from diffusers.utils.torch_utils import randn_tensor

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# SDXL Turbo's recipe for image-to-image: 2 steps at strength 0.5, which diffusers runs as
# int(2 * 0.5) = 1 denoising step from a half-noised input.
IMG2IMG_STEPS = 2


@dataclass(frozen=True, slots=True)
class Step:
    """The constants of one Euler step from `timestep` down to sigma 0."""

    timestep: float
    sigma: float
    # Noise is added to the starting latent times this: init_noise_sigma from pure noise,
    # sigma when noising an encoded image (scheduler.add_noise).
    noise_scale: float

    @property
    def input_scale(self) -> float:
        """scheduler.scale_model_input for Euler schedulers."""
        return float((self.sigma**2 + 1) ** -0.5)


def _fresh(scheduler: Any, steps: int) -> Any:
    """A copy set to `steps` steps on the CPU; the pipeline's own scheduler stays untouched."""
    copy = type(scheduler).from_config(scheduler.config)
    if not hasattr(copy, "sigmas") or copy.config.prediction_type != "epsilon":
        raise ValueError(
            f"{type(scheduler).__name__} ({copy.config.prediction_type}) is not supported: "
            "the engine needs an Euler-family scheduler predicting epsilon, as SDXL Turbo's"
        )
    copy.set_timesteps(steps, device="cpu")
    return copy


def text_to_image_step(scheduler: Any) -> Step:
    """The single step of `num_inference_steps=1`: from pure noise at the first timestep."""
    fresh = _fresh(scheduler, 1)
    return Step(
        timestep=float(fresh.timesteps[0]),
        sigma=float(fresh.sigmas[0]),
        noise_scale=float(fresh.init_noise_sigma),
    )


def schedule_length(strength: float) -> int:
    """The fewest scheduler steps of which diffusers' img2img takes one at `strength`
    (it takes int(steps * strength)): 2 for SDXL Turbo's [0.5, 1), 4 for 0.3."""
    if not 0.0 < strength < 1.0:
        raise ValueError(f"strength {strength} is not in (0, 1)")
    steps = max(math.ceil(1.0 / strength), IMG2IMG_STEPS)
    while int(steps * strength) < 1:  # 1 / strength rounded down in floating point
        steps += 1
    return steps


def image_to_image_step(scheduler: Any, strength: float) -> Step:
    """The one step diffusers' img2img pipeline takes at `strength` with
    `schedule_length(strength)` steps: the last of the schedule, from a lightly noised input
    at low strengths (the upscale's refinement), a half-noised one at SDXL Turbo's 0.5."""
    steps = schedule_length(strength)
    fresh = _fresh(scheduler, steps)
    taken = min(int(steps * strength), steps)
    if taken != 1:
        raise ValueError(f"strength {strength} does not give one step of {steps}")
    start = steps - taken
    sigma = float(fresh.sigmas[start])
    return Step(timestep=float(fresh.timesteps[start]), sigma=sigma, noise_scale=sigma)


def seeded_noise(
    generators: Sequence[torch.Generator], shape: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    """One row per generator, drawn as diffusers draws it for a list of generators."""
    rows = [randn_tensor(shape, generator=g, device=g.device, dtype=dtype) for g in generators]
    return torch.cat(rows)


class OneStep:
    """The models and constants of a single-step generation; its methods are pure tensor code.

    Args:
        unet: the SDXL UNet (or a compiled wrapper of its forward).
        decoder: latents to pixels (AutoencoderKL or AutoencoderTiny).
        encoder: the AutoencoderKL that encodes image-to-image inputs.
        text_step: the text-to-image step (image-to-image ones are given per call).
    """

    def __init__(self, unet: Any, decoder: Any, encoder: Any, text_step: Step) -> None:
        self.unet, self.decoder, self.encoder = unet, decoder, encoder
        self.text_step = text_step
        # Pixels per latent row or column: 8 for SDXL's VAE, computed as diffusers does.
        self.vae_scale = 2 ** (len(encoder.config.block_out_channels) - 1)
        self._timesteps: dict[float, torch.Tensor] = {}
        self._time_ids: dict[tuple[int, int], torch.Tensor] = {}

    def text_to_image(
        self, noise: torch.Tensor, embeds: torch.Tensor, pooled: torch.Tensor
    ) -> torch.Tensor:
        """Decoded images in [-1, 1] (decoder dtype, NCHW) from each row's seeded noise."""
        sample = noise * self.text_step.noise_scale
        return self.decode(self.x0(sample, embeds, pooled, self.text_step))

    def image_to_image(self, step: Step) -> Callable[..., torch.Tensor]:
        """The function of (noise, embeds, pooled, eps, pixels) that makes images from one
        input image's pixels in [-1, 1]: encode, noise to `step`, one step, decode.

        `eps` samples the encoder's latent distribution (diffusers' latent_dist.sample), a row
        per image; `pixels` is the one input (batch 1), encoded once for every row.
        """

        def run(
            noise: torch.Tensor,
            embeds: torch.Tensor,
            pooled: torch.Tensor,
            eps: torch.Tensor,
            pixels: torch.Tensor,
        ) -> torch.Tensor:
            dist = self.encoder.encode(pixels).latent_dist
            latents = (dist.mean + dist.std * eps).to(noise.dtype)
            sample = latents * self.encoder.config.scaling_factor + noise * step.noise_scale
            return self.decode(self.x0(sample, embeds, pooled, step))

        return run

    def x0(
        self, sample: torch.Tensor, embeds: torch.Tensor, pooled: torch.Tensor, step: Step
    ) -> torch.Tensor:
        """The UNet's estimate of the clean latent: the whole Euler step down to sigma 0."""
        batch, _, height, width = sample.shape
        conditions = {"text_embeds": pooled, "time_ids": self.time_ids(height, width, batch)}
        eps: torch.Tensor = self.unet(
            sample * step.input_scale,
            self._timestep(step.timestep, sample.device),
            encoder_hidden_states=embeds,
            added_cond_kwargs=conditions,
            return_dict=False,
        )[0]
        # In float32, as the scheduler computes its step.
        return sample.float() - step.sigma * eps.float()

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        scaled = latents.to(self.decoder.dtype) / self.decoder.config.scaling_factor
        decoded: torch.Tensor = self.decoder.decode(scaled, return_dict=False)[0]
        return decoded

    def time_ids(self, height: int, width: int, batch: int) -> torch.Tensor:
        """SDXL's size conditioning for latents of `height`x`width`: original size, crop (0, 0)
        and target size, in pixels.

        Made on first use, which is before any capture: a graph must not copy from the host.
        """
        ids = self._time_ids.get((height, width))
        if ids is None:
            size = (height * self.vae_scale, width * self.vae_scale)
            ids = torch.tensor([[*size, 0, 0, *size]], dtype=self.unet.dtype)
            ids = self._time_ids[(height, width)] = ids.to(self.unet.device)
        return ids.expand(batch, -1)

    def _timestep(self, value: float, device: torch.device) -> torch.Tensor:
        tensor = self._timesteps.get(value)
        if tensor is None:
            tensor = self._timesteps[value] = torch.tensor(value, device=device)
        return tensor
