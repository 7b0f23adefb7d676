"""One clock for every process: Redis's own, so hosts whose clocks disagree agree on time.

RQ scores its started-job registry with each process's local clock: a claim is written as
"local now + ttl" by the worker, and declared abandoned once "local now" of whoever sweeps
passes it. A sweeping host 30 s ahead of the worker's would then take running jobs for dead
ones (drawn twice, or answered with an error). Here both sides use Redis `TIME`: the worker
writes its claims with it (`worker/claims.py`) and every sweep cuts off with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rq.exceptions import NoSuchJobError

from common.trusted import foreign, refuse

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
    """RQ's cleanup of abandoned jobs, cut off by Redis's clock rather than the local one.
    RQ runs the failure callback each abandoned job names: foreign jobs are refused first
    (`common/trusted.py`), so it only ever runs ours."""
    cutoff = redis_now(registry.connection)
    for job_id in registry.get_expired_job_ids(cutoff):
        try:
            job = registry.job_class.fetch(
                job_id, connection=registry.connection, serializer=registry.serializer
            )
        except NoSuchJobError:
            continue
        if reason := foreign(job):
            refuse(job, reason)
            registry.remove_executions(job)
    registry.cleanup(timestamp=cutoff, exception_handlers=handlers)
