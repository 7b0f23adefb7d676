"""The warm SDXL Turbo pipeline: loaded once per process, then one denoising step per image."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers import AutoencoderKL, AutoPipelineForText2Image
from PIL import Image

from common.protocol import GenerationRequest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from worker.config import ModelSettings

log = logging.getLogger(__name__)

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
WARMUP_PROMPT = "a lighthouse on a cliff at sunset"


def resolve_device(name: str) -> torch.device:
    """`auto` prefers CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("DEVICE=cuda but no CUDA device is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("DEVICE=mps but MPS is not available")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return _DTYPES[name]
    return torch.float32 if device.type == "cpu" else torch.float16


class Engine:
    """Owns the pipeline; `generate` turns validated requests into encoded images."""

    def __init__(self, pipe: Any, device: torch.device, jpeg_quality: int = 95) -> None:
        self.pipe = pipe
        self.device = device
        self.jpeg_quality = jpeg_quality
        self.vae: AutoencoderKL = pipe.vae
        self.vae_dtype: torch.dtype = self.vae.dtype

    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerationRequest]) -> list[bytes]:
        """One pipeline call for all requests; each keeps its own seed."""
        first = requests[0]
        if any(
            (r.width, r.height, r.steps) != (first.width, first.height, first.steps)
            for r in requests
        ):
            raise ValueError("a batch must share size and step count")
        generators = [torch.Generator(device=self.device).manual_seed(r.seed) for r in requests]
        latents = self.pipe(
            prompt=[r.prompt for r in requests],
            height=first.height,
            width=first.width,
            num_inference_steps=first.steps,
            guidance_scale=0.0,
            generator=generators,
            output_type="latent",
        ).images
        return [self._encode(image) for image in self._decode(latents)]

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        # Decoding here rather than in the pipeline lets a float16 UNet feed a VAE kept in
        # float32 for good, instead of diffusers casting the VAE back and forth on every call.
        latents = latents.to(self.vae_dtype) / self.vae.config.scaling_factor
        images = self.vae.decode(latents, return_dict=False)[0]
        pixels: torch.Tensor = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round()
        return pixels.to(torch.uint8).permute(0, 2, 3, 1).cpu()

    def _encode(self, pixels: torch.Tensor) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels.numpy()).save(buffer, format="JPEG", quality=self.jpeg_quality)
        return buffer.getvalue()

    def warm_up(self) -> float:
        """Run one full generation so the first user pays no first-call costs."""
        started = time.perf_counter()
        self.generate([GenerationRequest(prompt=WARMUP_PROMPT, seed=0)])
        return (time.perf_counter() - started) * 1000


def load_engine(settings: ModelSettings) -> Engine:
    """Load the pipeline with `from_pretrained` (hub id or local directory) onto the device."""
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    kwargs: dict[str, Any] = {"dtype": dtype, "use_safetensors": True}
    variant = settings.model_variant
    if variant == "auto":
        is_local = Path(settings.model_id).is_dir()
        variant = "fp16" if dtype == torch.float16 and not is_local else ""
    if variant:
        kwargs["variant"] = variant
    if settings.vae_id:
        kwargs["vae"] = AutoencoderKL.from_pretrained(settings.vae_id, dtype=dtype)
    log.info("loading %s on %s as %s", settings.model_id, device, dtype)
    pipe = AutoPipelineForText2Image.from_pretrained(settings.model_id, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    pipe.to(device)
    if pipe.vae.dtype == torch.float16 and pipe.vae.config.force_upcast:
        # The stock SDXL VAE overflows in float16 and decodes to NaN (black images).
        pipe.vae.to(torch.float32)
    return Engine(pipe, device, settings.jpeg_quality)


_engine: Engine | None = None


def set_engine(engine: Engine) -> None:
    global _engine
    _engine = engine


def get_engine() -> Engine:
    """The process's warm engine; the worker sets it once before taking jobs."""
    if _engine is None:
        raise RuntimeError("the worker has not loaded its pipeline")
    return _engine
