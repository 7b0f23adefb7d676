"""Hosts whose clocks disagree: a running job is never declared abandoned by a skewed clock.

RQ reads each host's clock through `rq.registry.current_timestamp`; the tests move it for
the side whose clock is off, with real Redis, real RQ jobs and the worker's own claims."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pytest
import redis
import redis.asyncio as aredis
import rq.registry
from rq.job import JobStatus
from rq.serializers import JSONSerializer
from rq.utils import current_timestamp

from bot.config import DeliverySettings
from bot.delivery.recovery import Recovery
from common.config import QueueSettings
from testing.jobs import KEYS, job_context, job_queue, submit_now
from worker.batching import BatchWorker
from worker.claims import ClaimRenewal

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rq.executions import Execution
    from rq.job import Job

    from bot.delivery.results import ResultDelivery

TTL_S = 15
SKEW_S = 30


def _skew(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    monkeypatch.setattr(rq.registry, "current_timestamp", lambda: current_timestamp() + seconds)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def _start_job(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch, worker_skew: int
) -> tuple[BatchWorker, Job, Execution]:
    """A worker (its clock `worker_skew` s off) takes a queued job and claims it, as
    `BatchWorker.execute_job` does before drawing."""
    queue = job_queue(client)
    assert submit_now(client, job_context("a lighthouse")).fresh
    worker = BatchWorker(
        [queue._queue], connection=client, serializer=JSONSerializer, abandon_after_s=TTL_S
    )
    worker.register_birth()  # type: ignore[no-untyped-call]
    with monkeypatch.context() as clock:
        _skew(clock, worker_skew)
        taken = queue._queue.dequeue_any(
            [queue._queue], None, connection=client, serializer=JSONSerializer
        )
        assert taken is not None
        job, _ = taken
        execution = worker.prepare_execution(job)
        worker.prepare_job_execution(job)
        renewal = ClaimRenewal(worker, [(job, execution)], TTL_S)
        renewal.start()
        renewal.stop()
    return worker, job, execution


async def _bot_sweeps(redis_url: str, client: redis.Redis) -> None:
    async_client = aredis.Redis.from_url(redis_url)
    try:
        recovery = Recovery(
            async_client,
            client,
            KEYS,
            QueueSettings(),
            DeliverySettings(),
            # Only the sweep of abandoned jobs runs here, which delivers nothing.
            delivery=cast("ResultDelivery", None),
        )
        recovery.sweep_abandoned_jobs()
    finally:
        await async_client.aclose()


def _still_running(job: Job) -> bool:
    job.refresh()  # type: ignore[no-untyped-call]
    # Read raw: RQ's own registry reads clean up first, by the (skewed) local clock.
    claims = job.connection.zrange(job.started_job_registry.key, 0, -1)
    return job.get_status() == JobStatus.STARTED and any(
        member.decode().startswith(f"{job.id}:") for member in cast("list[bytes]", claims)
    )


async def test_a_bot_whose_clock_is_ahead_leaves_a_running_job_alone(
    client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, job, _ = _start_job(client, monkeypatch, worker_skew=0)
    _skew(monkeypatch, SKEW_S)
    await _bot_sweeps(redis_url, client)
    assert _still_running(job)


async def test_a_worker_whose_clock_lags_keeps_its_job_claimed(
    client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, job, _ = _start_job(client, monkeypatch, worker_skew=-SKEW_S)
    await _bot_sweeps(redis_url, client)
    assert _still_running(job)


def test_a_worker_whose_clock_is_ahead_leaves_other_workers_jobs_alone(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, job, _ = _start_job(client, monkeypatch, worker_skew=0)
    _skew(monkeypatch, SKEW_S)
    worker.clean_registries()
    assert _still_running(job)


async def test_a_job_whose_claim_did_lapse_is_still_taken_as_abandoned(
    client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, job, execution = _start_job(client, monkeypatch, worker_skew=0)
    # The worker died: its claim ran out (by Redis's clock) long ago.
    client.zadd(job.started_job_registry.key, {execution.composite_key: 1}, xx=True)
    await _bot_sweeps(redis_url, client)
    job.refresh()  # type: ignore[no-untyped-call]
    assert job.get_status() != JobStatus.STARTED
