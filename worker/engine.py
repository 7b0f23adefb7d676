"""The warm SDXL Turbo pipeline: loaded once per process, then one denoising step per image."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers import AutoencoderKL, AutoPipelineForText2Image

from common.protocol import GenerationRequest
from worker.config import SpeedSettings
from worker.fastpath import Decoder, JpegEncoder, compiled, load_tiny_decoder, to_pixels, tune
from worker.textcache import PromptEmbeddings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

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


def batch_sizes(max_batch: int, compiled: bool) -> list[int]:
    """Batch sizes the engine runs: all of them eagerly, powers of two (and the cap) compiled.

    A compiled graph is specialised to its batch size; padding a batch up to the next power of
    two keeps the number of graphs (and of minutes spent compiling at start) logarithmic.
    """
    if not compiled:
        return list(range(1, max_batch + 1))
    return sorted({min(2**i, max_batch) for i in range(max_batch.bit_length() + 1)})


class Engine:
    """Owns the pipeline; `generate` turns validated requests into encoded images."""

    def __init__(
        self,
        pipe: Any,
        device: torch.device,
        jpeg_quality: int = 95,
        speed: SpeedSettings | None = None,
        decoder: Decoder | None = None,
    ) -> None:
        self.pipe = pipe
        self.device = device
        pipe.set_progress_bar_config(disable=True)
        self.speed = speed or SpeedSettings()
        # The decoder may differ from pipe.vae (a float32 copy, or the tiny one): the pipeline
        # stops at latents and the engine decodes, so pipe.vae itself is never touched.
        self.vae: Decoder = decoder if decoder is not None else pipe.vae
        self.vae_dtype: torch.dtype = self.vae.dtype
        tune(pipe, self.vae, self.speed, device)
        self.jpeg = JpegEncoder(jpeg_quality, self.speed.gpu_jpeg, device)
        self._decode_fn: Callable[..., Any] = self.vae.decode
        self._compiled = self.speed.compile != "off"
        self.batch_sizes = batch_sizes(self.speed.max_batch, self._compiled)
        if self._compiled:
            # Both text encoders too: eager, their ~700 small kernels cost more than the UNet.
            for name in ("text_encoder", "text_encoder_2", "unet"):
                setattr(pipe, name, compiled(getattr(pipe, name), self.speed.compile))
            self._decode_fn = compiled(self.vae.decode, self.speed.compile)
        pad_to = self._padded_size if self._compiled else None
        self.text = PromptEmbeddings(pipe, device, self.speed.text_cache_size, pad_to)

    def _padded_size(self, count: int) -> int:
        return next((b for b in self.batch_sizes if b >= count), count)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[bytes]:
        """One pipeline call for all requests; each keeps its own seed. JPEG bytes, in order."""
        return self.jpeg.encode(self.pixels(requests))

    @torch.inference_mode()
    def pixels(self, requests: Sequence[GenerationRequest]) -> torch.Tensor:
        """The images as uint8 NCHW on the device, before encoding."""
        first = requests[0]
        if any(
            (r.width, r.height, r.steps) != (first.width, first.height, first.steps)
            for r in requests
        ):
            raise ValueError("a batch must share size and step count")
        padded = list(requests)
        if self._compiled:
            # Padding rows repeat the last request; their images are computed and dropped.
            padded += [requests[-1]] * (self._padded_size(len(requests)) - len(requests))
        if self.speed.compile in ("reduce-overhead", "max-autotune"):
            # CUDA-graph outputs are reused between replays; this marks a new iteration.
            torch.compiler.cudagraph_mark_step_begin()  # type: ignore[no-untyped-call]
        embeds, pooled = self.text.encode([r.prompt for r in padded])
        generators = [torch.Generator(device=self.device).manual_seed(r.seed) for r in padded]
        latents = self.pipe(
            prompt_embeds=embeds,
            pooled_prompt_embeds=pooled,
            height=first.height,
            width=first.width,
            num_inference_steps=first.steps,
            guidance_scale=0.0,
            generator=generators,
            output_type="latent",
        ).images
        return self._decode(latents)[: len(requests)]

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        latents = latents.to(self.vae_dtype) / self.vae.config.scaling_factor
        return to_pixels(self._decode_fn(latents, return_dict=False)[0])

    def warm_up(self) -> float:
        """Run every batch size the worker will use, so no user pays first-call costs.

        On CUDA this covers cuDNN's autotuning per shape and, with COMPILE, each graph's
        compilation; on the CPU one image is enough (nothing there depends on the shape).
        """
        started = time.perf_counter()
        sizes = self.batch_sizes if self.device.type == "cuda" or self._compiled else [1]
        for size in sizes:
            # Distinct prompts, so the text encoders also run (and compile) at this size.
            prompts = [f"{WARMUP_PROMPT}, take {size}.{row}" for row in range(size)]
            self.generate([GenerationRequest(prompt=p, seed=0) for p in prompts])
        return (time.perf_counter() - started) * 1000


def _decoder(pipe: Any, speed: SpeedSettings, dtype: torch.dtype) -> Decoder:
    """The module that turns latents into images; the pipeline itself stops at latents."""
    if speed.tiny_vae:
        return load_tiny_decoder(speed.tiny_vae_id, dtype, pipe.device)
    if pipe.vae.dtype == torch.float16 and pipe.vae.config.force_upcast:
        # The stock SDXL VAE overflows in float16 and decodes to NaN (black images).
        return pipe.vae.to(torch.float32)
    return pipe.vae


def load_engine(settings: ModelSettings, speed: SpeedSettings | None = None) -> Engine:
    """Load the pipeline with `from_pretrained` (hub id or local directory) onto the device."""
    speed = speed or SpeedSettings()
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
    log.info("loading %s on %s as %s; %r", settings.model_id, device, dtype, speed)
    pipe = AutoPipelineForText2Image.from_pretrained(settings.model_id, **kwargs)
    pipe.to(device)
    return Engine(pipe, device, settings.jpeg_quality, speed, _decoder(pipe, speed, dtype))


_engine: Engine | None = None


def set_engine(engine: Engine) -> None:
    global _engine
    _engine = engine


def get_engine() -> Engine:
    """The process's warm engine; the worker sets it once before taking jobs."""
    if _engine is None:
        raise RuntimeError("the worker has not loaded its pipeline")
    return _engine
