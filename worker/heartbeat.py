"""The worker's beat in Redis: the bot reads it to know whether any worker can draw.

A side thread beats every quarter of `WORKER_GONE_S`, from the moment the model is warm until
the worker stops; a stopped worker removes its beat at once, a dead one falls silent and
counts as gone after `WORKER_GONE_S`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from common.liveness import BEAT

if TYPE_CHECKING:
    from redis import Redis

    from common.protocol import Keys

log = logging.getLogger("worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat(threading.Thread):
    def __init__(self, connection: Redis, keys: Keys, gone_s: int) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self._connection, self._key, self._gone_ms = connection, keys.workers, gone_s * 1000
        self.name_in_redis = worker_name()
        self._beat = connection.register_script(BEAT)
        self._stopping = threading.Event()

    def beat(self) -> None:
        self._beat(keys=[self._key], args=[self.name_in_redis, self._gone_ms])

    def start(self) -> None:
        """Beat once before returning, so a worker that says it is ready is seen alive at
        once; then the side thread beats on."""
        try:
            self.beat()
        except RedisError as exc:
            log.warning("could not beat: %s", exc)
        super().start()

    def run(self) -> None:
        while True:
            try:
                self.beat()
            except RedisError as exc:
                log.warning("could not beat: %s", exc)
            if self._stopping.wait(max(0.5, self._gone_ms / 4000)):
                return

    def stop(self) -> None:
        """Stop beating and say so: the bot stops counting this worker at once."""
        self._stopping.set()
        if self.is_alive():
            self.join()
        try:
            self._connection.zrem(self._key, self.name_in_redis)
        except RedisError as exc:
            log.warning("could not remove the beat: %s", exc)
