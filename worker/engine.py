"""The warm SDXL Turbo engine: loaded by diffusers once per process, then one step per image.

Text embeddings (cached per prompt) and each request's seeded noise go into the single step
(`worker.step`: UNet, x0, decoder), then uint8, JPEG or PNG. On CUDA the step of every batch
size bucket is a CUDA graph captured at warm-up (`worker.graphs`); elsewhere it runs eagerly.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from diffusers import AutoencoderKL, AutoPipelineForText2Image
from PIL import Image

from common.protocol import IMAGE_SIZE, GenerationRequest
from worker.config import SpeedSettings
from worker.devices import resolve_device, resolve_dtype, resolve_max_batch, resolve_vae_dtype
from worker.fastpath import (
    Decoder,
    JpegEncoder,
    compiled,
    load_tiny_decoder,
    to_pixels,
    to_png,
    tune,
)
from worker.faults import free_memory, is_device_failure
from worker.graphs import Graphs, WarmUp, buckets
from worker.metrics import CUDA_GRAPHS
from worker.startup import StartupError, check_source, loading
from worker.step import OneStep, Step, image_to_image_step, seeded_noise, text_to_image_step
from worker.textcache import PromptEmbeddings, TextEncoders

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from worker.config import ModelSettings
    from worker.translate import Translator

log = logging.getLogger(__name__)

WARMUP_PROMPT = "a lighthouse on a cliff at sunset"
# A replayed graph runs the same kernels as the eager step: beyond rounding it must not
# differ (in 0-255 levels, per pixel and channel).
GRAPH_TOLERANCE = 2
# The text encoders' graph against their eager run: largest difference over (1 + largest value).
ENCODER_TOLERANCE = 1e-3
ENCODERS = "encoders"


class Engine:
    """Owns the loaded models; turns validated requests into images, several in one call."""

    def __init__(
        self,
        pipe: Any,
        device: torch.device,
        jpeg_quality: int = 95,
        speed: SpeedSettings | None = None,
        decoder: Decoder | None = None,
        graphs: Graphs | None = None,
    ) -> None:
        self.pipe, self.device = pipe, device
        self.speed = speed or SpeedSettings()
        # The decoder may differ from pipe.vae (the tiny one); pipe.vae still encodes inputs.
        self.vae: Decoder = decoder if decoder is not None else pipe.vae
        tune(pipe, self.vae, self.speed, device)
        self.jpeg = JpegEncoder(jpeg_quality, self.speed.gpu_jpeg, device)
        # CUDA queues kernels and returns: the host is free while the device draws.
        self.asynchronous = device.type == "cuda"
        self.encoders = TextEncoders(pipe, device)
        self.text = PromptEmbeddings(self.encoders, self.speed.text_cache_size, self._encode_ids)
        unet = pipe.unet
        if self.speed.compile != "off":
            unet = compiled(unet, self.speed.compile)
            self.vae.decoder = compiled(self.vae.decoder, self.speed.compile)
            pipe.vae.encoder = compiled(pipe.vae.encoder, self.speed.compile)
        self.step = OneStep(unet, self.vae, pipe.vae, text_to_image_step(pipe.scheduler))
        # One image-to-image step per strength, for the 512 path and the 2× refinement alike.
        self._image_steps: dict[float, Step] = {}
        # 🔍: the uncompiled UNet and the full VAE both ways, run eagerly at twice the size.
        self.upscaler = OneStep(pipe.unet, pipe.vae, pipe.vae, self.step.text_step)
        # Set by the worker when TRANSLATE_MODEL_ID names a model.
        self.translator: Translator | None = None
        # `auto` from the memory the loaded models left free.
        tiny = decoder is not None and not isinstance(decoder, AutoencoderKL)
        self.max_batch, self.max_batch_source = resolve_max_batch(
            self.speed.max_batch, device, tiny
        )
        self.buckets = buckets(self.max_batch)
        if graphs is None and device.type == "cuda" and self.speed.cuda_graphs:
            graphs = Graphs(device)
        self.graphs = graphs
        self.encoders_in_graphs = graphs is not None
        # Compiled kernels are specialised per batch size, so batches pad up to a bucket too.
        self._padded = graphs is not None or self.speed.compile != "off"

    @property
    def overlaps(self) -> bool:
        """Whether the host can encode one batch's JPEGs while the device draws the next:
        only where work is queued without waiting, and with Pillow (nvJPEG is device work)."""
        return self.asynchronous and not self.jpeg.on_gpu

    def generate(self, requests: Sequence[GenerationRequest]) -> list[bytes]:
        """Text-to-image JPEGs, in request order, each from its own seed."""
        return self.jpeg.encode(self.pixels(requests))

    def encode(self, pixels: torch.Tensor, image_format: Literal["jpeg", "png"]) -> list[bytes]:
        return to_png(pixels) if image_format == "png" else self.jpeg.encode(pixels)

    @torch.inference_mode()
    def pixels(self, requests: Sequence[GenerationRequest]) -> torch.Tensor:
        """Text-to-image: uint8 NCHW on the device, before encoding."""
        return self._make(requests, None)

    @torch.inference_mode()
    def image_to_image(
        self, requests: Sequence[GenerationRequest], image: Image.Image
    ) -> torch.Tensor:
        """uint8 NCHW images made from one RGB input image the requests' size, each seeded."""
        self._check_input(requests, image)
        return self._make(requests, self._encoder_input(image))

    @torch.inference_mode()
    def upscale(
        self, requests: Sequence[GenerationRequest], image: Image.Image | None = None
    ) -> torch.Tensor:
        """The 2× versions (🔍) of what `requests` draw, from `image` for image-to-image.

        Each picture is made as the 512 path makes it, enlarged with Lanczos, then refined by
        one image-to-image step at the larger size: at the request's `upscale` strength, with
        noise from its own seed, decoded with the full VAE (never the tiny decoder). It runs
        eagerly on the pipeline's own UNet, so the 512 path's graphs, buckets and compiled
        kernels are neither used nor changed."""
        if any(not r.upscale for r in requests):
            raise ValueError("every request of an upscale must name its strength")
        translated = self._translated(requests)
        at_size = [r.model_copy(update={"upscale": 0.0}) for r in translated]
        if image is None:
            base = self._made(at_size, None)
        else:
            self._check_input(at_size, image)
            base = self._made(at_size, self._encoder_input(image))
        rows = [
            self.finish(self._refined(request, enlarged(row, request.output_size)))
            for request, row in zip(translated, base, strict=True)
        ]
        return torch.cat(rows)

    def _refined(self, request: GenerationRequest, image: Image.Image) -> torch.Tensor:
        """One image-to-image step over an enlarged picture, batch 1, eagerly."""
        step = self._image_step(request.upscale)
        embeds, pooled = self.text.encode([request.prompt])
        scale, channels = self.upscaler.vae_scale, self.pipe.unet.config.in_channels
        width, height = request.output_size
        shape = (1, channels, height // scale, width // scale)
        generator = torch.Generator(self.device).manual_seed(request.seed)
        # Drawn in the order and dtypes of `_inputs`: the encoder's sample, then the noise.
        eps = seeded_noise([generator], shape, torch.float32).to(self.pipe.vae.dtype)
        noise = seeded_noise([generator], shape, self.pipe.unet.dtype)
        run = self.upscaler.image_to_image(step)
        return run(noise, embeds, pooled, eps, self._encoder_input(image))

    def _encoder_input(self, image: Image.Image) -> torch.Tensor:
        """An RGB picture as the VAE encoder takes it: NCHW in [-1, 1] on the device."""
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].to(self.device)
        return (pixels.float() / 127.5 - 1.0).to(self.pipe.vae.dtype)

    @staticmethod
    def _check_input(requests: Sequence[GenerationRequest], image: Image.Image) -> None:
        size = (requests[0].width, requests[0].height)
        if image.mode != "RGB" or image.size != size:
            raise ValueError(
                f"the input must be an RGB image of {size[0]}x{size[1]}, "
                f"not {image.mode} {image.size[0]}x{image.size[1]}"
            )

    def finish(self, decoded: torch.Tensor) -> torch.Tensor:
        """Every decoded batch passes here, float in [-1, 1] on the device, before it becomes
        uint8 and then JPEG or PNG: checks on the images themselves belong here.

        Under CUDA graphs `decoded` is the graph's output; the next replay overwrites it.
        """
        return to_pixels(decoded)

    def drawn_prompts(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """What reaches the text encoders for each request: its prompt with the Cyrillic
        translated (all new text in one model call), or as typed."""
        prompts = [r.prompt for r in requests]
        asked = [i for i, r in enumerate(requests) if r.translate]
        if self.translator is None or not asked:
            return prompts
        for i, text in zip(
            asked, self.translator.translate([prompts[i] for i in asked]), strict=True
        ):
            prompts[i] = text
        return prompts

    def drawn_text(self, request: GenerationRequest) -> str:
        """The English text drawn for a translated prompt, from what the translator knows
        (no model call: the drawing just translated it), or empty when drawn as typed."""
        if self.translator is None or not request.translate:
            return ""
        return self.translator.lookup(request.prompt) or ""

    def _make(
        self, requests: Sequence[GenerationRequest], source: torch.Tensor | None
    ) -> torch.Tensor:
        if any(r.upscale for r in requests):
            raise ValueError("an upscale is made by Engine.upscale")
        return self._made(self._translated(requests), source)

    def _translated(self, requests: Sequence[GenerationRequest]) -> list[GenerationRequest]:
        """The requests with the prompts the text encoders get (`drawn_prompts`)."""
        drawn = self.drawn_prompts(requests)
        return [
            r if text == r.prompt else r.model_copy(update={"prompt": text})
            for r, text in zip(requests, drawn, strict=True)
        ]

    def _made(
        self, requests: Sequence[GenerationRequest], source: torch.Tensor | None
    ) -> torch.Tensor:
        first = requests[0]
        if any((r.width, r.height) != (first.width, first.height) for r in requests):
            raise ValueError("a batch must share its image size")
        cap = self.buckets[-1]
        chunks = [requests[i : i + cap] for i in range(0, len(requests), cap)]
        return torch.cat([self.finish(self._decoded(chunk, source)) for chunk in chunks])

    def _decoded(
        self, requests: Sequence[GenerationRequest], source: torch.Tensor | None
    ) -> torch.Tensor:
        name, fn = self._function(requests[0], source is not None)
        inputs, shared = self._inputs(requests, source)
        if self.graphs is not None and (out := self.graphs.run(name, inputs)) is not None:
            return out
        rows = len(requests)
        if self._padded:
            size = next(b for b in self.buckets if b >= rows)
            split = len(inputs) - shared
            # Padding rows repeat the last request; their images are computed and dropped.
            padded = [torch.cat([x, x[-1:].expand(size - rows, *x.shape[1:])]) for x in inputs]
            inputs = padded[:split] + inputs[split:]
        return fn(*inputs)[:rows]

    def _encode_ids(self, ids: list[torch.Tensor]) -> torch.Tensor:
        """The text encoders' packed output for token ids: a graph's replay where one fits
        (uncached prompts then cost the host one launch, not ~600), else eagerly."""
        if self.graphs is not None and (out := self.graphs.run(ENCODERS, ids)) is not None:
            return out
        return self.encoders(*ids)

    def _image_step(self, strength: float) -> Step:
        step = self._image_steps.get(strength)
        if step is None:
            step = self._image_steps[strength] = image_to_image_step(self.pipe.scheduler, strength)
        return step

    def _function(
        self, request: GenerationRequest, from_image: bool
    ) -> tuple[str, Callable[..., torch.Tensor]]:
        if not from_image:
            return "text", self.step.text_to_image
        step = self._image_step(request.strength)
        return f"image@{step.timestep}", self.step.image_to_image(step)

    def _inputs(
        self, requests: Sequence[GenerationRequest], source: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], int]:
        """What the step function takes (only these change between calls of one shape), and
        how many of them, last, are shared by every row rather than one row per request."""
        embeds, pooled = self.text.encode([r.prompt for r in requests])
        scale, channels = self.step.vae_scale, self.pipe.unet.config.in_channels
        shape = (1, channels, requests[0].height // scale, requests[0].width // scale)
        generators = [torch.Generator(self.device).manual_seed(r.seed) for r in requests]
        if source is None:
            return [seeded_noise(generators, shape, self.pipe.unet.dtype), embeds, pooled], 0
        # As diffusers' img2img: each generator samples its latent first, then its noise; the
        # sample is drawn in float32, as diffusers' upcast encoder draws it.
        eps = seeded_noise(generators, shape, torch.float32).to(source.dtype)
        noise = seeded_noise(generators, shape, self.pipe.unet.dtype)
        # The input image stays one row: encoded once, its latent broadcast to every row.
        return [noise, embeds, pooled, eps, source], 1

    @torch.inference_mode()
    def warm_up(self) -> list[WarmUp]:
        """Capture every graph and run every bucket, so no user pays first-call costs.

        On the CPU without compile one image is enough (nothing there depends on the shape).
        """
        self.jpeg.probe()
        done: list[WarmUp] = []
        for size in self.buckets if self._padded else [1]:
            started = time.perf_counter()
            # Distinct prompts, so the text encoders also run at this size.
            requests = [
                GenerationRequest(prompt=f"{WARMUP_PROMPT}, take {size}.{row}", seed=row)
                for row in range(size)
            ]
            if self.graphs is not None:
                self._capture_checked(self.graphs, requests)
            self.generate(requests)
            cuda = self.device.type == "cuda"
            peak = torch.cuda.max_memory_allocated(self.device) if cuda else 0
            done.append(WarmUp(size, time.perf_counter() - started, peak))
        CUDA_GRAPHS.set(1 if self.graphs is not None else 0)
        return done

    def _capture_checked(self, graphs: Graphs, requests: list[GenerationRequest]) -> None:
        """Capture this bucket's graphs and check each replay against the eager step; on any
        failure or mismatch the engine goes on without graphs (slower, never wrong). A CUDA
        error that broke the device is raised: only a restart helps then."""
        try:
            problem = self._capture(graphs, requests)
        except Exception as exc:
            if is_device_failure(exc):
                raise
            problem = f"capturing batch {len(requests)} failed: {exc!r}"
        if problem is None:
            return
        self.graphs = None
        self._padded = self.speed.compile != "off"
        graphs.release()
        if self.device.type == "cuda":
            # A capture that failed halfway may leave work queued; an error here means the
            # context is gone, and it propagates.
            torch.cuda.synchronize(self.device)
        free_memory()
        log.warning("CUDA graphs off, the step runs eagerly: %s", problem)

    def _capture_encoders(self, graphs: Graphs, requests: list[GenerationRequest]) -> None:
        """The text encoders' graph for this bucket, checked like the step's. They have a
        fallback of their own: if they cannot be captured, they run eagerly and the step's
        graphs stay."""
        if not self.encoders_in_graphs:
            return
        ids = self.encoders.tokenize([r.prompt for r in requests])
        try:
            graph = graphs.capture(ENCODERS, self.encoders, ids)
            replayed, eager = graph(ids).float(), self.encoders(*ids).float()
            scale = 1.0 + float(eager.abs().max())
            differs = float((replayed - eager).abs().max()) / scale
            problem = None
            if differs > ENCODER_TOLERANCE:
                problem = f"their graph at batch {len(requests)} differs by {differs:.2e}"
        except Exception as exc:
            if is_device_failure(exc):
                raise
            problem = f"capturing them at batch {len(requests)} failed: {exc!r}"
        if problem is not None:
            self.encoders_in_graphs = False
            graphs.drop(ENCODERS)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            free_memory()
            log.warning("the text encoders run eagerly: %s", problem)

    def _capture(self, graphs: Graphs, requests: list[GenerationRequest]) -> str | None:
        """Text-to-image and image-to-image graphs for this batch of default-sized requests,
        each replayed once beside the eager step on the same inputs; what differs, if any.
        The text encoders' graph comes first, so the step's inputs already go through it."""
        self._capture_encoders(graphs, requests)
        shape = (1, 3, IMAGE_SIZE, IMAGE_SIZE)
        gray = torch.zeros(shape, device=self.device, dtype=self.pipe.vae.dtype)
        for source in (None, gray):
            name, fn = self._function(requests[0], source is not None)
            inputs, shared = self._inputs(requests, source)
            graph = graphs.capture(name, fn, inputs, shared)
            replayed = to_pixels(graph(inputs))
            eager = to_pixels(fn(*inputs))
            differs = int((replayed.int() - eager.int()).abs().max())
            if differs > GRAPH_TOLERANCE:
                return (
                    f"the {name} graph at batch {len(requests)} differs from the eager step "
                    f"by up to {differs} of 255"
                )
        return None


def enlarged(pixels: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """One uint8 CHW picture resized with Lanczos on the host (Pillow), as RGB."""
    picture = Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy())
    return picture.resize(size, Image.Resampling.LANCZOS)


def load_engine(settings: ModelSettings, speed: SpeedSettings | None = None) -> Engine:
    """Load the pipeline with `from_pretrained` (hub id or local directory) onto the device."""
    speed = speed or SpeedSettings()
    try:
        device = resolve_device(settings.device)
    except RuntimeError as exc:
        raise StartupError(
            f"{exc}: install a driver the image's CUDA build supports (README, Quick start), "
            "or set DEVICE=cpu"
        ) from exc
    dtype = resolve_dtype(settings.dtype, device)
    kwargs: dict[str, Any] = {"dtype": dtype, "use_safetensors": True}
    variant = settings.model_variant
    if variant == "auto":
        is_local = Path(settings.model_id).is_dir()
        variant = "fp16" if dtype == torch.float16 and not is_local else ""
    if variant:
        kwargs["variant"] = variant
    if settings.vae_id:
        check_source("VAE_ID", settings.vae_id)
        with loading("VAE_ID", settings.vae_id):
            kwargs["vae"] = AutoencoderKL.from_pretrained(settings.vae_id, dtype=dtype)
    log.info("loading %s on %s as %s; %r", settings.model_id, device, dtype, speed)
    check_source("MODEL_ID", settings.model_id)
    with loading("MODEL_ID", settings.model_id):
        pipe = AutoPipelineForText2Image.from_pretrained(settings.model_id, **kwargs)
    pipe.to(device)
    vae_dtype = resolve_vae_dtype(settings.vae_dtype, dtype, pipe.vae.config.force_upcast, device)
    # Module.to: diffusers' own `to` warns on every dtype cast.
    torch.nn.Module.to(pipe.vae, dtype=vae_dtype)
    decoder = load_tiny_decoder(speed.tiny_vae_id, dtype, device) if speed.tiny_vae else None
    engine = Engine(pipe, device, settings.jpeg_quality, speed, decoder)
    log.info("batches of up to %d: %s", engine.max_batch, engine.max_batch_source)
    return engine


_engine: Engine | None = None


def set_engine(engine: Engine) -> None:
    global _engine
    _engine = engine


def get_engine() -> Engine:
    """The process's warm engine; the worker sets it once before taking jobs."""
    if _engine is None:
        raise RuntimeError("the worker has not loaded its pipeline")
    return _engine
