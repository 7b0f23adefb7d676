"""One clock for every process: Redis's own, so hosts whose clocks disagree agree on time.

RQ scores its started-job registry with each process's local clock: a claim is written as
"local now + ttl" by the worker, and declared abandoned once "local now" of whoever sweeps
passes it. A sweeping host 30 s ahead of the worker's would then take running jobs for dead
ones (drawn twice, or answered with an error). Here both sides use Redis `TIME`: the worker
writes its claims with it (`worker/claims.py`) and every sweep cuts off with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis
    from rq.executions import Execution
    from rq.job import Job
    from rq.registry import StartedJobRegistry


def redis_now(connection: redis.Redis) -> float:
    """Redis's clock, in Unix seconds."""
    seconds, micros = connection.time()
    return float(seconds) + micros / 1_000_000


def claim(pipe: redis.client.Pipeline, job: Job, execution: Execution, until: float) -> None:
    """Set the claim of a running job to end at `until` (Redis time); only while it has one."""
    pipe.zadd(job.started_job_registry.key, {execution.composite_key: until}, xx=True)


def sweep_started(registry: StartedJobRegistry, handlers: list[Any] | None = None) -> None:
    """RQ's cleanup of abandoned jobs, cut off by Redis's clock rather than the local one."""
    registry.cleanup(timestamp=redis_now(registry.connection), exception_handlers=handlers)
