"""GPU faults in the real worker loop (RQ, Redis, the batching worker), driven by an engine
that raises what CUDA would: out of memory splits the batch, a broken device ends the worker."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest
import redis
import torch
from PIL import Image
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from common.config import QueueSettings
from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION, GenerationRequest, Result
from testing.jobs import published
from worker.batching import BatchWorker
from worker.config import ModelSettings, SpeedSettings
from worker.engine import Engine, load_engine, set_engine
from worker.lifecycle import DEVICE_FAILED, run_worker

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ILLEGAL_ADDRESS = "CUDA error: an illegal memory access was encountered"


class FaultyEngine:
    """The real tiny engine behind a memory limit (in requests per call) or a broken device."""

    def __init__(
        self, real: Engine, fits: int = 64, broken: bool = False, overlaps: bool = False
    ) -> None:
        self.real, self.fits, self.broken, self.overlaps = real, fits, broken, overlaps
        self.jpeg = real.jpeg
        self.calls: list[int] = []

    def pixels(self, requests: list[GenerationRequest]) -> Any:
        self.calls.append(len(requests))
        if self.broken:
            raise RuntimeError(ILLEGAL_ADDRESS)
        if len(requests) > self.fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.real.pixels(requests)

    def drawn_prompts(self, requests: list[GenerationRequest]) -> list[str]:
        return self.real.drawn_prompts(requests)

    def drawn_text(self, request: GenerationRequest) -> str:
        return self.real.drawn_text(request)


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return load_engine(
        ModelSettings(model_id=str(tiny_model), device="cpu"), SpeedSettings(max_batch=4)
    )


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def _queue(client: redis.Redis) -> Queue:
    return Queue("imagine", connection=client, serializer=JSONSerializer)


def _enqueue(client: redis.Redis, count: int, retries: int = 0) -> list[str]:
    return [
        _queue(client)
        .enqueue_call(
            JOB_FUNCTION,
            kwargs={"request": {"prompt": f"a fox, take {i}", "seed": 10 + i}},
            timeout=60,
            on_failure=Callback(FAILURE_CALLBACK),
            retry=Retry(max=retries) if retries else None,
        )
        .id
        for i in range(count)
    ]


def _results(client: redis.Redis) -> dict[str, Result]:
    return {r.job_id: r for r in published(client)}


def _mean_difference(a: bytes, b: bytes) -> float:
    first, second = (torch.tensor(list(Image.open(io.BytesIO(x)).tobytes())) for x in (a, b))
    return float((first.float() - second.float()).abs().mean())


def _worker(client: redis.Redis) -> BatchWorker:
    return BatchWorker([_queue(client)], connection=client, serializer=JSONSerializer, max_batch=4)


@pytest.mark.parametrize("overlaps", [False, True])
@pytest.mark.parametrize(("fits", "calls"), [(2, [4, 2, 2]), (1, [4, 2, 1, 1, 2, 1, 1])])
def test_a_batch_out_of_memory_is_drawn_in_halves_until_it_fits(
    client: redis.Redis, engine: Engine, fits: int, calls: list[int], overlaps: bool
) -> None:
    faulty = FaultyEngine(engine, fits=fits, overlaps=overlaps)
    set_engine(faulty)  # type: ignore[arg-type]
    jobs = _enqueue(client, 4)
    _worker(client).work(burst=True)
    results = _results(client)
    assert faulty.calls == calls
    assert [results[job].status for job in jobs] == ["ok"] * 4
    # The picture its request makes alone (batched arithmetic differs in the last bits).
    alone = engine.jpeg.encode(engine.pixels([GenerationRequest(prompt="a fox, take 2", seed=12)]))
    assert _mean_difference(results[jobs[2]].image, alone[0]) < 1.0


def test_one_request_that_never_fits_gets_the_error_and_is_not_retried(
    client: redis.Redis, engine: Engine
) -> None:
    faulty = FaultyEngine(engine, fits=0)
    set_engine(faulty)  # type: ignore[arg-type]
    (job,) = _enqueue(client, 1, retries=1)
    _worker(client).work(burst=True)
    assert _results(client)[job].status == "error"
    assert faulty.calls == [1]


@pytest.mark.parametrize("overlaps", [False, True])
def test_a_broken_device_stops_the_worker_non_zero_and_leaves_the_rest_queued(
    client: redis.Redis, engine: Engine, overlaps: bool
) -> None:
    faulty = FaultyEngine(engine, broken=True, overlaps=overlaps)
    set_engine(faulty)  # type: ignore[arg-type]
    jobs = _enqueue(client, 2, retries=1)
    code = run_worker(client, _queue(client), QueueSettings(), max_batch=1)
    assert code == DEVICE_FAILED
    assert faulty.calls == [1]  # no job after the failure, not even one looked ahead
    # The failed job has a retry left: it waits for a healthy worker, unanswered meanwhile.
    assert sorted(_queue(client).job_ids) == sorted(jobs)
    assert _results(client) == {}
