"""The worker's life around RQ: a graceful stop on SIGTERM, and starting over when Redis goes
away instead of exiting."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from rq.serializers import JSONSerializer

from common.config import REDIS_RETRY_MAX_S
from worker.batching import BatchWorker

if TYPE_CHECKING:
    from types import FrameType

    from redis import Redis
    from rq import Queue

    from common.config import QueueSettings

log = logging.getLogger("worker")

# Exit status after a CUDA error that broke the device (`worker.faults`): restart me.
DEVICE_FAILED = 3


def run_worker(
    connection: Redis, queue: Queue, settings: QueueSettings, *, max_batch: int = 1
) -> int:
    """Take jobs until SIGTERM or SIGINT; when Redis goes away, wait for it and start over."""
    backoff = 1.0
    while True:
        worker = BatchWorker(
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
            if worker.device_failure is not None:
                return DEVICE_FAILED
            if worker.stop_requested:
                log.info("stopped")
                return 0
            log.warning("the work loop ended unexpectedly")
            if worked:
                backoff = 1.0
        if _wait_for_redis(connection, backoff):
            return 0
        backoff = min(REDIS_RETRY_MAX_S, backoff * 2)


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
            delay = min(REDIS_RETRY_MAX_S, delay * 2)
        else:
            log.info("Redis is back")
            return False
