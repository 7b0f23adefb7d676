"""The worker's engine and job functions against the tiny pipeline and a real Redis."""

from __future__ import annotations

import asyncio
import io
import json
import zlib
from typing import TYPE_CHECKING

import pytest
import redis
import torch
from PIL import Image
from rq import Callback, Queue, SimpleWorker
from rq.serializers import JSONSerializer

from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION, GenerationRequest, Result
from testing.jobs import job_context, job_queue, published
from worker.config import ModelSettings
from worker.devices import resolve_device
from worker.engine import Engine, load_engine, set_engine

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))


@pytest.fixture
def installed(engine: Engine) -> Iterator[Engine]:
    set_engine(engine)
    yield engine


def _pixels(data: bytes) -> torch.Tensor:
    image = Image.open(io.BytesIO(data))
    assert image.size == (512, 512)
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).float()


def test_engine_loads_from_a_local_directory_in_float32_on_cpu(engine: Engine) -> None:
    assert engine.device.type == "cpu"
    assert engine.pipe.unet.dtype == torch.float32
    assert engine.pipe.scheduler.config.timestep_spacing == "trailing"


def test_same_seed_same_image_other_seed_other_image(engine: Engine) -> None:
    one = engine.generate([GenerationRequest(prompt="a red fox", seed=7)])[0]
    again = engine.generate([GenerationRequest(prompt="a red fox", seed=7)])[0]
    other = engine.generate([GenerationRequest(prompt="a red fox", seed=8)])[0]
    assert one == again
    assert (_pixels(one) - _pixels(other)).abs().mean() > 1.0


def test_auto_device_on_a_machine_without_gpu_is_cpu() -> None:
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto").type in {"cpu", "mps"}
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


def _run_burst(client: redis.Redis) -> None:
    queue = Queue("imagine", connection=client, serializer=JSONSerializer)
    SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(burst=True)


def _results(client: redis.Redis) -> list[Result]:
    return published(client)


async def test_job_from_the_bot_queue_publishes_a_jpeg_result(
    installed: Engine, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    context = job_context("a fox", seed=42)
    await job_queue(client).submit(context)
    _run_burst(client)
    (result,) = _results(client)
    assert (result.job_id, result.status, result.mime) == (context.job_id, "ok", "image/jpeg")
    assert result.image == installed.generate([GenerationRequest(prompt="a fox", seed=42)])[0]
    assert result.generation_ms > 0


def test_jobs_are_json_not_pickle(installed: Engine, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    asyncio.run(job_queue(client).submit(job_context("a fox", seed=5)))
    (job_key,) = client.keys("rq:job:*")
    data = client.hget(job_key, "data")
    assert isinstance(data, bytes)
    # RQ zlib-compresses the serialised call; inside is plain JSON, not a pickle.
    func, _, args, kwargs = json.loads(zlib.decompress(data))
    assert (func, args) == ("worker.jobs.generate", [])
    assert kwargs["request"]["prompt"] == "a fox"


def test_invalid_request_is_answered_with_an_error_result(
    installed: Engine, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    queue = Queue("imagine", connection=client, serializer=JSONSerializer)
    job = queue.enqueue_call(
        JOB_FUNCTION,
        kwargs={"request": {"prompt": "x", "seed": -1, "exec": "import os"}},
        on_failure=Callback(FAILURE_CALLBACK),
    )
    _run_burst(client)
    (result,) = _results(client)
    assert (result.job_id, result.status, result.error) == (job.id, "error", "invalid")
