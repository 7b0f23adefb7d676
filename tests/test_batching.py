"""Micro-batching through real RQ and Redis: one engine call, every job's RQ bookkeeping intact."""

from __future__ import annotations

import io
import signal
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import redis
import torch
from PIL import Image
from prometheus_client import REGISTRY
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION, GenerationRequest, Result
from testing.jobs import published
from testing.safety_models import save_classifier
from worker.batching import BatchWorker
from worker.config import ModelSettings, SafetySettings, SpeedSettings
from worker.engine import Engine, load_engine, set_engine
from worker.safety import load_checker, set_checker

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return load_engine(
        ModelSettings(model_id=str(tiny_model), device="cpu"), SpeedSettings(max_batch=4)
    )


@pytest.fixture
def client(redis_url: str, engine: Engine) -> Iterator[redis.Redis]:
    set_engine(engine)
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def _queue(client: redis.Redis) -> Queue:
    return Queue("imagine", connection=client, serializer=JSONSerializer)


def _enqueue(client: redis.Redis, request: dict[str, Any], timeout: int = 60) -> Job:
    return _queue(client).enqueue_call(
        JOB_FUNCTION,
        kwargs={"request": request},
        timeout=timeout,
        on_failure=Callback(FAILURE_CALLBACK),
    )


def _work(client: redis.Redis, max_batch: int = 4) -> None:
    worker = BatchWorker(
        [_queue(client)], connection=client, serializer=JSONSerializer, max_batch=max_batch
    )
    worker.work(burst=True)


def _results(client: redis.Redis) -> dict[str, Result]:
    return {r.job_id: r for r in published(client)}


def _mean_difference(a: bytes, b: bytes) -> float:
    """Batched arithmetic differs from a lone call's in the last bits: compare pixels."""
    first, second = (np.asarray(Image.open(io.BytesIO(x)), dtype=np.float32) for x in (a, b))
    return float(np.abs(first - second).mean())


def _requests(count: int) -> list[GenerationRequest]:
    return [GenerationRequest(prompt=f"a fox, take {i}", seed=100 + i) for i in range(count)]


def test_waiting_jobs_run_as_one_batch_and_finish_as_rq_jobs(
    client: redis.Redis, engine: Engine
) -> None:
    requests = _requests(5)
    jobs = [_enqueue(client, r.model_dump()) for r in requests]
    _work(client, max_batch=4)
    results = _results(client)
    # The first four waited together and ran as one call; the fifth ran alone.
    expected = [*engine.generate(requests[:4]), *engine.generate(requests[4:])]
    assert [results[job.id].image for job in jobs] == expected
    assert all(results[job.id].status == "ok" for job in jobs)
    summaries = [Job.fetch(job.id, connection=client, serializer=JSONSerializer) for job in jobs]
    assert [s.get_status() for s in summaries] == [JobStatus.FINISHED] * 5
    returned = [s.return_value() for s in summaries]
    assert [r["batch_size"] for r in returned] == [4, 4, 4, 4, 1]  # type: ignore[index]
    assert [r["seed"] for r in returned] == [r.seed for r in requests]  # type: ignore[index]
    queue = _queue(client)
    assert sorted(FinishedJobRegistry(queue=queue).get_job_ids()) == sorted(j.id for j in jobs)
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert queue.count == 0
    assert client.llen(queue.intermediate_queue_key) == 0


def test_an_invalid_job_in_a_batch_fails_alone(client: redis.Redis, engine: Engine) -> None:
    requests = _requests(2)
    good = [_enqueue(client, r.model_dump()) for r in requests]
    bad = _enqueue(client, {"prompt": "x", "seed": -1})
    _work(client)
    results = _results(client)
    assert (results[bad.id].status, results[bad.id].error) == ("error", "invalid")
    assert [results[j.id].image for j in good] == engine.generate(requests)
    assert FailedJobRegistry(queue=_queue(client)).get_job_ids() == [bad.id]


class _Stalled:
    """An engine whose batch call outlasts the jobs' timeout, or breaks."""

    overlaps = False

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def pixels(self, requests: Sequence[GenerationRequest]) -> torch.Tensor:
        if self.error is not None:
            raise self.error
        time.sleep(5)
        return torch.zeros(len(requests), 3, 8, 8, dtype=torch.uint8)


@pytest.mark.parametrize(
    ("stalled", "error"),
    [(_Stalled(), "timeout"), (_Stalled(RuntimeError("CUDA error")), "failed")],
)
def test_a_failing_batch_fails_each_job_through_its_callback(
    client: redis.Redis, stalled: _Stalled, error: str
) -> None:
    jobs = [_enqueue(client, r.model_dump(), timeout=1) for r in _requests(3)]
    set_engine(stalled)  # type: ignore[arg-type]
    _work(client)
    results = _results(client)
    assert [(results[j.id].status, results[j.id].error) for j in jobs] == [("error", error)] * 3
    queue = _queue(client)
    assert sorted(FailedJobRegistry(queue=queue).get_job_ids()) == sorted(j.id for j in jobs)
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    for job in jobs:
        assert Job.fetch(job.id, connection=client).get_status() == JobStatus.FAILED


def test_each_picture_of_a_micro_batch_gets_its_own_safety_verdict(
    client: redis.Redis, engine: Engine, tmp_path: Path
) -> None:
    """Flagged and safe pictures made by one engine call: each job publishes its own
    picture's verdict, and the metric counts each verdict once."""
    requests = _requests(4)
    head = save_classifier(tmp_path / "random-head")
    probe = load_checker(SafetySettings(safety_model_id=str(head)), CPU, torch.float32)
    assert probe is not None
    # The random head scores each picture differently: a threshold between the second and
    # third score flags two of the batch's four pictures.
    scores = [v.score for v in probe.check(engine.pixels(requests))]
    low, high = sorted(scores)[1:3]
    assert high > low
    threshold = (low + high) / 2
    expected = [score >= threshold for score in scores]
    settings = SafetySettings(safety_model_id=str(head), safety_threshold=threshold)
    set_checker(load_checker(settings, CPU, torch.float32))
    before = {v: _verdicts(v) for v in ("safe", "flagged")}
    try:
        jobs = [_enqueue(client, r.model_dump()) for r in requests]
        _work(client, max_batch=4)
    finally:
        set_checker(None)
    results = _results(client)
    assert [results[job.id].flagged for job in jobs] == [(flag,) for flag in expected]
    summaries = [Job.fetch(j.id, connection=client, serializer=JSONSerializer) for j in jobs]
    assert [s.return_value()["batch_size"] for s in summaries] == [4] * 4  # type: ignore[index]
    assert _verdicts("flagged") - before["flagged"] == 2
    assert _verdicts("safe") - before["safe"] == 2


def _verdicts(verdict: str) -> float:
    value = REGISTRY.get_sample_value("imagine_worker_safety_verdicts_total", {"verdict": verdict})
    return value if value is not None else 0.0


def test_a_lone_job_does_not_wait_for_company(
    client: redis.Redis, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    (request,) = _requests(1)
    job = _enqueue(client, request.model_dump())
    drawn_at: list[float] = []
    draw = engine.pixels

    def timed(requests: Sequence[GenerationRequest]) -> torch.Tensor:
        drawn_at.append(time.monotonic())
        return draw(requests)

    monkeypatch.setattr(engine, "pixels", timed)
    started = time.monotonic()
    _work(client, max_batch=8)
    # From the worker's start to the engine call: the worker's own start-up and one empty
    # look at the queue. Any wait for more jobs to join (none come) would show here: it is
    # a bound on waiting for nothing, far above what taking the job costs.
    assert len(drawn_at) == 1
    assert drawn_at[0] - started < 1.0
    assert _results(client)[job.id].image == engine.generate([request])[0]
    summary = Job.fetch(job.id, connection=client, serializer=JSONSerializer).return_value()
    assert summary is not None
    assert summary["batch_size"] == 1


def test_a_micro_batch_of_russian_prompts_is_one_translation_and_results_say_what_was_drawn(
    client: redis.Redis, engine: Engine, tmp_path: Path
) -> None:
    from testing.translate_models import save_translator
    from worker.config import TranslateSettings
    from worker.translate import load_translator

    settings = TranslateSettings(translate_model_id=str(save_translator(tmp_path, word="fox")))
    translator = load_translator(settings, torch.device("cpu"), torch.float32)
    assert translator is not None
    translator.max_new_tokens = 3
    prompts = ["рыжая лиса", "маяк на скале", "a red fox", "зимний лес"]
    # The last one another size: drawn on its own, yet translated with the others.
    sizes = [512, 512, 512, 256]
    jobs = [
        _enqueue(client, GenerationRequest(prompt=p, seed=i, width=s, height=s).model_dump())
        for i, (p, s) in enumerate(zip(prompts, sizes, strict=True))
    ]
    engine.translator = translator
    try:
        _work(client, max_batch=4)
    finally:
        engine.translator = None

    results = _results(client)
    assert translator.generate_calls == 1  # three Cyrillic prompts, two sizes, one model call
    assert [results[job.id].drawn for job in jobs] == ["fox fox", "fox fox", "", "fox fox"]


class _Recorded:
    """The engine's drawing and encoding calls, in order, by batch size."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, int]] = []
        draw, encode = engine.pixels, engine.jpeg.encode

        def pixels(requests: Sequence[GenerationRequest]) -> torch.Tensor:
            self.calls.append(("draw", len(requests)))
            return draw(requests)

        def jpegs(pixels: torch.Tensor) -> list[bytes]:
            self.calls.append(("encode", len(pixels)))
            return encode(pixels)

        monkeypatch.setattr(engine, "pixels", pixels)
        monkeypatch.setattr(engine.jpeg, "encode", jpegs)


@pytest.fixture
def overlapping(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The tiny engine as if its device queued work without waiting, like CUDA."""
    monkeypatch.setattr(engine, "asynchronous", True)
    assert engine.overlaps
    return engine


def test_the_next_batch_is_drawn_before_this_one_is_encoded_and_every_photo_comes_once(
    client: redis.Redis, overlapping: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = _requests(5)
    expected = [overlapping.generate([r])[0] for r in requests]
    jobs = [_enqueue(client, r.model_dump()) for r in requests]
    recorded = _Recorded(overlapping, monkeypatch)
    _work(client, max_batch=2)
    # Each batch's images are encoded only once the next batch's drawing is under way.
    assert recorded.calls == [
        ("draw", 2),
        ("draw", 2),
        ("encode", 2),
        ("draw", 1),
        ("encode", 2),
        ("encode", 1),
    ]
    assert sorted(r.job_id for r in published(client)) == sorted(j.id for j in jobs)
    results = _results(client)
    for job, image in zip(jobs, expected, strict=True):
        assert results[job.id].status == "ok"
        assert _mean_difference(results[job.id].image, image) < 1.0
    queue = _queue(client)
    assert sorted(FinishedJobRegistry(queue=queue).get_job_ids()) == sorted(j.id for j in jobs)
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    sizes = [
        Job.fetch(j.id, connection=client, serializer=JSONSerializer).return_value()["batch_size"]  # type: ignore[index]
        for j in jobs
    ]
    assert sizes == [2, 2, 2, 2, 1]


def test_without_overlap_each_batch_is_encoded_before_the_next_is_taken(
    client: redis.Redis, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not engine.overlaps  # the CPU computes as it is asked: nothing would overlap
    for r in _requests(3):
        _enqueue(client, r.model_dump())
    recorded = _Recorded(engine, monkeypatch)
    _work(client, max_batch=2)
    assert recorded.calls == [("draw", 2), ("encode", 2), ("draw", 1), ("encode", 1)]


@pytest.mark.parametrize("stop_at", [1, 2])
def test_a_stop_lets_the_batches_in_hand_finish_and_leaves_the_rest_queued(
    client: redis.Redis, overlapping: Engine, monkeypatch: pytest.MonkeyPatch, stop_at: int
) -> None:
    jobs = [_enqueue(client, r.model_dump()) for r in _requests(6)]
    worker = BatchWorker(
        [_queue(client)], connection=client, serializer=JSONSerializer, max_batch=2
    )
    draw, drawn = overlapping.pixels, []

    def pixels(requests: Sequence[GenerationRequest]) -> torch.Tensor:
        drawn.append(len(requests))
        if len(drawn) == stop_at:  # SIGTERM arrives while this batch is drawn
            worker.request_stop(signal.SIGTERM, None)
        return draw(requests)

    monkeypatch.setattr(overlapping, "pixels", pixels)
    worker.work(burst=True)
    done = 2 * stop_at
    results = _results(client)
    assert sorted(results) == sorted(j.id for j in jobs[:done])
    assert all(r.status == "ok" for r in results.values())
    queue = _queue(client)
    assert queue.job_ids == [j.id for j in jobs[done:]]  # nothing taken is left behind
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert queue.intermediate_queue.get_job_ids() == []


def test_a_failure_in_the_looked_ahead_batch_fails_only_its_jobs(
    client: redis.Redis, overlapping: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [_enqueue(client, r.model_dump()) for r in _requests(5)]
    draw, drawn = overlapping.pixels, []

    def pixels(requests: Sequence[GenerationRequest]) -> torch.Tensor:
        drawn.append(len(requests))
        if len(drawn) == 2:
            raise RuntimeError("the second batch broke")
        return draw(requests)

    monkeypatch.setattr(overlapping, "pixels", pixels)
    _work(client, max_batch=2)
    results = _results(client)
    assert [results[j.id].status for j in jobs] == ["ok", "ok", "error", "error", "ok"]
    failed = FailedJobRegistry(queue=_queue(client)).get_job_ids()
    assert sorted(failed) == sorted(j.id for j in jobs[2:4])


def test_an_encoding_that_outlasts_the_timeout_fails_its_batch_not_the_next(
    client: redis.Redis, overlapping: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [_enqueue(client, r.model_dump(), timeout=1) for r in _requests(4)]
    encode, encoded = overlapping.jpeg.encode, []

    def jpegs(pixels: torch.Tensor) -> list[bytes]:
        encoded.append(len(pixels))
        if len(encoded) == 1:
            time.sleep(5)  # stuck until the job timeout's alarm cuts it
        return encode(pixels)

    monkeypatch.setattr(overlapping.jpeg, "encode", jpegs)
    _work(client, max_batch=2)
    results = _results(client)
    assert [(results[j.id].status, results[j.id].error) for j in jobs[:2]] == [
        ("error", "timeout")
    ] * 2
    assert [results[j.id].status for j in jobs[2:]] == ["ok", "ok"]
