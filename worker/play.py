"""Jobs beyond one photo: variations (several seeds), PNG files and image-to-image.

They run as their own RQ job function, never micro-batched with plain photos, so the photo
fast path stays exactly as it is. All images of one job come from one pipeline call and are
published as one `Result`.
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import AutoPipelineForImage2Image
from PIL import Image, ImageOps
from rq import get_current_job

from common.failures import publish
from common.protocol import IMAGE_SIZE, GenerationRequest, Result
from worker.engine import get_engine
from worker.metrics import observe_generation

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis import Redis

    from worker.engine import Engine

log = logging.getLogger(__name__)

# SDXL Turbo's recommendation for image-to-image: 2 steps at strength 0.5, which diffusers
# runs as int(2 * 0.5) = 1 denoising step from a half-noised input.
IMG2IMG_STEPS = 2

_image_pipes: dict[int, Any] = {}


def image_pipe(engine: Engine) -> Any:
    """The img2img pipeline on the engine's warm components: no second copy of the weights."""
    pipe = _image_pipes.get(id(engine))
    if pipe is None:
        pipe = AutoPipelineForImage2Image.from_pipe(engine.pipe)
        pipe.set_progress_bar_config(disable=True)
        _image_pipes[id(engine)] = pipe
    return pipe


def fit(data: bytes) -> Image.Image:
    """Decode an input image and resize and centre-crop it to 512×512 RGB."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    return ImageOps.fit(image, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)


@torch.inference_mode()
def _encode(engine: Engine, images: Sequence[Image.Image], seeds: Sequence[int]) -> torch.Tensor:
    """Scaled VAE latents of the inputs, sampled with each request's seed."""
    vae = engine.pipe.vae
    batch = torch.stack([torch.from_numpy(np.array(image)).permute(2, 0, 1) for image in images])
    pixels = batch.to(engine.device, torch.float32) / 127.5 - 1.0
    # The stock SDXL VAE overflows in float16; the engine already keeps it in float32 unless a
    # tiny decoder replaced it, in which case it is lifted to float32 just for this encode.
    lifted = vae.dtype == torch.float16 and vae.config.force_upcast
    if lifted:
        vae.to(torch.float32)
    try:
        latents = [
            vae.encode(pixels[i : i + 1].to(vae.dtype)).latent_dist.sample(
                torch.Generator(device=engine.device).manual_seed(seed)
            )
            for i, seed in enumerate(seeds)
        ]
    finally:
        if lifted:
            vae.to(torch.float16)
    scaled: torch.Tensor = torch.cat(latents) * vae.config.scaling_factor
    return scaled


@torch.inference_mode()
def img2img_pixels(
    engine: Engine, requests: Sequence[GenerationRequest], images: Sequence[Image.Image]
) -> torch.Tensor:
    """uint8 NCHW images made from `images`, one per request, each with its own seed."""
    pipe = image_pipe(engine)
    seeds = [r.seed for r in requests]
    latents = _encode(engine, images, seeds).to(engine.pipe.unet.dtype)
    if engine.speed.compile in ("reduce-overhead", "max-autotune"):
        # As in Engine.pixels: CUDA-graph outputs are reused between replays.
        torch.compiler.cudagraph_mark_step_begin()  # type: ignore[no-untyped-call]
    embeds, pooled = engine.text.encode([r.prompt for r in requests])
    out = pipe(
        prompt_embeds=embeds,
        pooled_prompt_embeds=pooled,
        image=latents,  # 4 channels: taken as latents, the pipeline skips its own VAE encode
        num_inference_steps=IMG2IMG_STEPS,
        strength=requests[0].strength,
        guidance_scale=0.0,
        generator=[torch.Generator(device=engine.device).manual_seed(s) for s in seeds],
        output_type="latent",
    ).images
    return engine._decode(out)


def to_png(pixels: torch.Tensor) -> list[bytes]:
    out: list[bytes] = []
    for row in pixels.permute(0, 2, 3, 1).cpu().numpy():
        buffer = io.BytesIO()
        Image.fromarray(row).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def make_images(
    engine: Engine, requests: Sequence[GenerationRequest], connection: Redis
) -> list[bytes]:
    """Encoded images for requests that share their format and input image."""
    first = requests[0]
    if any((r.format, r.source) != (first.format, first.source) for r in requests):
        raise ValueError("one job's requests must share format and input image")
    if first.source:
        data = connection.get(first.source)
        if not isinstance(data, bytes):
            raise ValueError("the input image has expired")
        pixels = img2img_pixels(engine, requests, [fit(data)] * len(requests))
    else:
        pixels = engine.pixels(requests)
    return to_png(pixels) if first.format == "png" else engine.jpeg.encode(pixels)


def render(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """RQ job: make every requested image and publish them together as one result."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("render must run inside an RQ job")
    valid = [GenerationRequest.model_validate(request) for request in requests]
    if not 1 <= len(valid) <= 10:
        raise ValueError("a job makes 1 to 10 images")
    started = time.perf_counter()
    images = make_images(get_engine(), valid, job.connection)
    elapsed_ms = (time.perf_counter() - started) * 1000
    observe_generation(elapsed_ms / 1000, len(images))
    mime = "image/png" if valid[0].format == "png" else "image/jpeg"
    result = Result(
        job_id=job.id,
        status="ok",
        image=images[0],
        more=tuple(images[1:]),
        mime=mime,
        generation_ms=elapsed_ms,
    )
    publish(job.connection, result)
    log.info(
        "job=%s images=%d format=%s img2img=%s generation_ms=%.1f",
        job.id,
        len(images),
        valid[0].format,
        bool(valid[0].source),
        elapsed_ms,
    )
    return {"seeds": [r.seed for r in valid], "generation_ms": round(elapsed_ms, 2)}
