"""Variations, PNG files and image-to-image in the worker, on the tiny pipeline and real Redis."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
import redis
from PIL import Image
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from bot.requests.sources import normalise
from common.protocol import GenerationRequest, Result
from testing.jobs import job_context, job_queue, published
from worker.config import ModelSettings
from worker.engine import Engine, load_engine, set_engine
from worker.play import make_images

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    loaded = load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))
    set_engine(loaded)
    return loaded


def _run(client: redis.Redis) -> list[Result]:
    queue = Queue("imagine", connection=client, serializer=JSONSerializer)
    SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(burst=True)
    return published(client)


def _image(data: bytes, fmt: str) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert (image.format, image.size) == (fmt, (512, 512))
    return image


def _photo(color: tuple[int, int, int], size: tuple[int, int] = (900, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


async def test_variations_are_one_result_with_four_seeded_images(
    engine: Engine, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    context = job_context("a fox", action="album", count=4)
    await job_queue(client).submit(context)
    (result,) = _run(client)
    assert (result.job_id, result.status, len(result.images)) == (context.job_id, "ok", 4)
    assert len(set(context.seeds)) == 4
    for data in result.images:
        _image(data, "JPEG")
    # One pipeline call, each row with its own seed: the same call gives the same bytes.
    same = engine.generate([GenerationRequest(prompt="a fox", seed=s) for s in context.seeds])
    assert result.images == same
    assert len(set(result.images)) == 4


async def test_file_is_a_png_of_the_same_image(engine: Engine, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    await job_queue(client).submit(job_context("a fox", seed=9, action="file"))
    (result,) = _run(client)
    assert result.mime == "image/png"
    png = _image(result.image, "PNG")
    pixels = engine.pixels([GenerationRequest(prompt="a fox", seed=9)])
    assert png.tobytes() == pixels[0].permute(1, 2, 0).numpy().tobytes()


def test_image_to_image_is_seeded_and_follows_the_input(engine: Engine, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("in:red", normalise(_photo((250, 10, 10)), 50_000_000))
    client.set("in:blue", normalise(_photo((10, 10, 250)), 50_000_000))

    def make(source: str, seed: int) -> bytes:
        request = GenerationRequest(prompt="a fox", seed=seed, source=source)
        return make_images(engine, [request], client).images[0]

    red = _image(make("in:red", 1), "JPEG")
    assert make("in:red", 1) == make("in:red", 1)
    blue = _image(make("in:blue", 1), "JPEG")
    assert red.tobytes() != blue.tobytes()
    # The input, not only the prompt and seed, decides the picture.
    text_only = engine.generate([GenerationRequest(prompt="a fox", seed=1)])[0]
    assert red.tobytes() != _image(text_only, "JPEG").tobytes()
