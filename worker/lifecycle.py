"""The worker's life around RQ: a short-lived claim on the running job, a graceful stop on
SIGTERM, and starting over when Redis goes away instead of exiting.

RQ's SimpleWorker runs the job in its own thread and only heartbeats between jobs, so it
claims each job for the whole job timeout plus a minute: a worker killed mid-job would leave
its user waiting that long. Here a side thread renews a claim of `abandon_after_s` while the
job runs, so a dead worker's job is seen as abandoned within seconds (by the bot's sweeper,
which retries it or answers the user).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from rq.serializers import JSONSerializer

from worker.batching import BatchWorker

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    from redis import Redis
    from rq import Queue
    from rq.executions import Execution
    from rq.job import Job

    from common.config import QueueSettings

log = logging.getLogger("worker")

MAX_BACKOFF_S = 30.0


class _ClaimRenewal(threading.Thread):
    """Renews the claims on the running jobs (one, or a batch) until stopped.

    Renewal ends by itself a little after the job timeout: a generation stuck where RQ's
    timeout cannot interrupt it (inside one long native call) then expires like a dead worker.
    """

    def __init__(self, worker: ReliableWorker, running: list[tuple[Job, Execution]]) -> None:
        super().__init__(name=f"claim-{running[0][0].id}", daemon=True)
        self._worker, self._running = worker, running
        self._done = threading.Event()
        timeout = max(job.timeout if job.timeout and job.timeout > 0 else 0 for job, _ in running)
        self._until = time.monotonic() + timeout + worker.abandon_after_s

    def run(self) -> None:
        ttl = self._worker.abandon_after_s
        while not self._done.wait(max(1.0, ttl / 3)) and time.monotonic() < self._until:
            try:
                with self._worker.connection.pipeline() as pipe:
                    for job, execution in self._running:
                        execution.heartbeat(job.started_job_registry, ttl, pipeline=pipe)
                    self._worker.heartbeat(ttl + 60, pipeline=pipe)
                    pipe.execute()
            except RedisError as exc:
                # Redis is down: the job's own Redis calls fail too, and the sweeper retries it.
                log.warning("could not renew the claims of %d job(s): %s", len(self._running), exc)

    def stop(self) -> None:
        self._done.set()
        self.join()


class ReliableWorker(BatchWorker):
    """BatchWorker (the warm pipeline stays in this process) with short-lived job claims."""

    def __init__(self, *args: Any, abandon_after_s: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.abandon_after_s = abandon_after_s
        self.stop_requested = False

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.abandon_after_s

    @contextlib.contextmanager
    def claims(self, running: list[tuple[Job, Execution]]) -> Iterator[None]:
        renewal = _ClaimRenewal(self, running)
        renewal.start()
        try:
            yield
        finally:
            renewal.stop()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # RQ's warm shutdown: a running job finishes (and is delivered), then the loop ends.
        self.stop_requested = True
        log.info("stop requested: finishing the current job first")
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run_worker(
    connection: Redis, queue: Queue, settings: QueueSettings, *, max_batch: int = 1
) -> int:
    """Take jobs until SIGTERM or SIGINT; when Redis goes away, wait for it and start over."""
    backoff = 1.0
    while True:
        worker = ReliableWorker(
            [queue],
            connection=connection,
            serializer=JSONSerializer,
            abandon_after_s=settings.abandon_after_s,
            max_batch=max_batch,
        )
        try:
            worked = worker.work(with_scheduler=False, logging_level="INFO")
        except RedisError as exc:
            log.warning("lost Redis: %s", exc)
        else:
            if worker.stop_requested:
                log.info("stopped")
                return 0
            log.warning("the work loop ended unexpectedly")
            if worked:
                backoff = 1.0
        if _wait_for_redis(connection, backoff):
            return 0
        backoff = min(MAX_BACKOFF_S, backoff * 2)


def _wait_for_redis(connection: Redis, first_delay: float) -> bool:
    """Sleep with backoff until Redis answers; True when a stop signal came meanwhile."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # RQ's handlers belong to the worker that just ended; a signal now must only stop us.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    delay = first_delay
    while True:
        log.info("reconnecting to Redis in %.0f s", delay)
        if stop.wait(delay):
            return True
        try:
            connection.ping()
        except RedisError as exc:
            log.warning("Redis still unreachable: %s", exc)
            delay = min(MAX_BACKOFF_S, delay * 2)
        else:
            log.info("Redis is back")
            return False
