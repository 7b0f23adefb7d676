"""Jobs beyond one photo: variations (several seeds), PNG files, image-to-image and 2×.

They run as their own RQ job function, never micro-batched with plain photos. All images of
one job come from one engine call and are published as one `Result`.
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING, Any

from PIL import Image
from rq import get_current_job

from common.failures import publish
from common.protocol import IMAGE_SIZE, GenerationRequest, Result
from worker.engine import get_engine
from worker.metrics import observe_generation
from worker.safety import Checked, checked

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis import Redis

    from worker.engine import Engine

log = logging.getLogger(__name__)


def source_image(data: bytes) -> Image.Image:
    """The stored input image, which the bot already cropped to 512×512; others are refused."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ValueError("the input image cannot be read") from exc
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        width, height = image.size
        side = IMAGE_SIZE
        raise ValueError(f"the input image must be {side}×{side}, not {width}×{height}")
    return image


def make_images(
    engine: Engine, requests: Sequence[GenerationRequest], connection: Redis
) -> Checked:
    """Encoded images, with their safety verdicts, for requests that share their format and
    input image."""
    first = requests[0]
    shared = (first.format, first.source, bool(first.upscale))
    if any((r.format, r.source, bool(r.upscale)) != shared for r in requests):
        raise ValueError("one job's requests must share format, input image and size")
    image: Image.Image | None = None
    if first.source:
        data = connection.get(first.source)
        if not isinstance(data, bytes):
            raise ValueError("the input image has expired")
        image = source_image(data)
    if first.upscale:
        pixels = engine.upscale(requests, image)
    elif image is not None:
        pixels = engine.image_to_image(requests, image)
    else:
        pixels = engine.pixels(requests)
    return checked(pixels, lambda decoded: engine.encode(decoded, first.format))


def render(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """RQ job: make every requested image and publish them together as one result."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("render must run inside an RQ job")
    valid = [GenerationRequest.model_validate(request) for request in requests]
    if not 1 <= len(valid) <= 10:
        raise ValueError("a job makes 1 to 10 images")
    started = time.perf_counter()
    engine = get_engine()
    made = make_images(engine, valid, job.connection)
    images = made.images
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
        scores=made.scores,
        flagged=made.flagged,
        drawn=engine.drawn_text(valid[0]),
    )
    publish(job.connection, result)
    log.info(
        "job=%s images=%d format=%s img2img=%s upscale=%s generation_ms=%.1f",
        job.id,
        len(images),
        valid[0].format,
        bool(valid[0].source),
        valid[0].upscale,
        elapsed_ms,
    )
    return {"seeds": [r.seed for r in valid], "generation_ms": round(elapsed_ms, 2)}
