"""Short-lived claims on running jobs, renewed from a side thread while the jobs run.

RQ's SimpleWorker runs the job in its own thread and only heartbeats between jobs, so it
claims each job for the whole job timeout plus a minute: a worker killed mid-job would leave
its user waiting that long. Here a side thread renews a claim of `abandon_after_s` while the
job runs, so a dead worker's job is seen as abandoned within seconds (by the bot's sweeper,
which retries it or answers the user). Claims end at a Redis time (`common/clock.py`): a
worker whose clock lags the sweeper's never looks dead while it draws.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from common.clock import claim, redis_now

if TYPE_CHECKING:
    from rq.executions import Execution
    from rq.job import Job
    from rq.worker import BaseWorker

log = logging.getLogger("worker")


class ClaimRenewal(threading.Thread):
    """Renews the claims on the running jobs (one, or a batch) until stopped.

    Renewal ends by itself a little after the job timeout: a generation stuck where RQ's
    timeout cannot interrupt it (inside one long native call) then expires like a dead worker.
    """

    def __init__(self, worker: BaseWorker, running: list[tuple[Job, Execution]], ttl: int) -> None:
        super().__init__(name=f"claim-{running[0][0].id}", daemon=True)
        self._worker, self._running, self._ttl = worker, running, ttl
        self._done = threading.Event()
        timeout = max(job.timeout if job.timeout and job.timeout > 0 else 0 for job, _ in running)
        self._until = time.monotonic() + timeout + ttl

    def start(self) -> None:
        # RQ wrote the first claims with this host's clock: replace them before any work.
        self._renew()
        super().start()

    def run(self) -> None:
        while not self._done.wait(max(1.0, self._ttl / 3)) and time.monotonic() < self._until:
            self._renew()

    def _renew(self) -> None:
        ttl = self._ttl
        try:
            until = redis_now(self._worker.connection) + ttl
            with self._worker.connection.pipeline() as pipe:
                for job, execution in self._running:
                    execution.heartbeat(job.started_job_registry, ttl, pipeline=pipe)
                    claim(pipe, job, execution, until)
                self._worker.heartbeat(ttl + 60, pipeline=pipe)
                pipe.execute()
        except RedisError as exc:
            # Redis is down: the job's own Redis calls fail too, and the sweeper retries it.
            log.warning("could not renew the claims of %d job(s): %s", len(self._running), exc)

    def stop(self) -> None:
        self._done.set()
        self.join()
