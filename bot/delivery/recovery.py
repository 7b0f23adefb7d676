"""The bot's periodic sweep: results nobody is sending, and jobs nobody is running.

Every `sweep_interval_s`:
- results pending longer than `claim_idle_s` on any consumer of the group (a bot instance
  that is gone, or this bot after Telegram failed `send_attempts` times in a row) are claimed
  with XAUTOCLAIM and delivered again;
- jobs whose worker stopped renewing its claim (killed, machine lost; see
  `worker/lifecycle.py`) go through RQ's own cleanup of the started-job registry: it runs the
  job's failure callback (`common.failures.on_failure`) and requeues it while retries are
  left; otherwise the callback publishes an error result, which the user then gets;
- jobs that waited in the queue longer than `QUEUE_WAIT_S` (no worker took them) are taken
  off the queue and answered "no GPU worker" (`common/liveness.py`), freeing their slots.

The bot runs the sweep because it is the one process that is always there to answer users,
including while no worker is alive.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from bot.delivery.results import GROUP
from bot.shared.running import honour_cancellation
from common.clock import sweep_started
from common.liveness import EXPIRE_WAITING
from common.protocol import NO_WORKER

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aredis

    from bot.config import DeliverySettings
    from bot.delivery.results import Entry, ResultDelivery
    from common.config import QueueSettings
    from common.protocol import Keys

log = logging.getLogger(__name__)

# RQ workers take the same lock for their own registry cleanup, so only one cleaner runs.
SWEEP_LOCK_S: Final = 30


class Recovery:
    def __init__(
        self,
        async_redis: aredis.Redis,
        sync_redis: redis.Redis,
        keys: Keys,
        queue: QueueSettings,
        settings: DeliverySettings,
        delivery: ResultDelivery,
    ) -> None:
        self._redis = async_redis
        self._delivery = delivery
        self._results = keys.results
        self._settings = settings
        self._queue = Queue(queue.queue_name, connection=sync_redis, serializer=JSONSerializer)
        self._expire = async_redis.register_script(EXPIRE_WAITING)
        self._waiting_keys = [keys.queue, keys.queued_since, keys.results]
        self._waiting_args: list[str | int] = [
            queue.queue_wait_s * 1000,
            Job.redis_job_namespace_prefix,
            NO_WORKER,
            queue.results_maxlen,
        ]

    async def run(self) -> None:
        """Sweep until cancelled; a failed sweep (Redis down) is simply tried next time."""
        while True:
            await asyncio.sleep(self._settings.sweep_interval_s)
            try:
                await self.claim_stale_results()
                await self.answer_jobs_nobody_took()
                await asyncio.to_thread(self.sweep_abandoned_jobs)
            except RedisError as exc:
                log.debug("sweep skipped: %s", exc)
            honour_cancellation()

    async def claim_stale_results(self) -> None:
        start = "0-0"
        idle_ms = int(self._settings.claim_idle_s * 1000)
        while True:
            # Redis 7 reply: [next start id, [(entry_id, fields)], [ids deleted meanwhile]].
            reply = await self._redis.xautoclaim(
                self._results,
                GROUP,
                self._delivery.consumer,
                min_idle_time=idle_ms,
                start_id=start,
                count=self._settings.read_count,
            )
            next_start, claimed = reply[0], reply[1]
            entries: list[Entry] = [(entry_id, fields) for entry_id, fields in claimed if fields]
            if len(reply) > 2 and reply[2]:
                # Only RESULTS_MAXLEN trims unread results: the bot was away far too long.
                log.error("%d result(s) were trimmed from the stream unsent", len(reply[2]))
            if entries:
                log.info("taking over %d pending result(s)", len(entries))
                await self._delivery.dispatch(entries)
            start = next_start.decode() if isinstance(next_start, bytes) else str(next_start)
            if start == "0-0":
                return

    async def answer_jobs_nobody_took(self) -> None:
        expired = await self._expire(keys=self._waiting_keys, args=self._waiting_args)
        if expired:
            log.warning("%d job(s) waited over QUEUE_WAIT_S for a worker; answered", len(expired))

    def sweep_abandoned_jobs(self) -> None:
        connection = self._queue.connection
        lock = self._queue.registry_cleaning_key
        if not connection.set(lock, "bot", nx=True, ex=SWEEP_LOCK_S):
            return
        try:
            # The failure callback runs in this thread: SIGALRM timeouts only work in the
            # main thread, a timer-based one anywhere.
            registry = StartedJobRegistry(queue=self._queue, death_penalty_class=TimerDeathPenalty)
            sweep_started(registry)  # on Redis's clock, the one the worker's claims use
        finally:
            connection.delete(lock)
