"""Whether any GPU worker is alive, as the workers' beats in Redis say (`common/liveness.py`).

Asked for every prompt, so the answer is kept for a second in this process: a worker that
just came or went is noticed a second later, and spam costs no Redis round trip each.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from common.liveness import ALIVE

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from common.config import QueueSettings
    from common.protocol import Keys

CACHE_S: Final = 1.0


class Workers:
    def __init__(self, redis: Redis, keys: Keys, queue: QueueSettings) -> None:
        self._key = keys.workers
        self._gone_ms = queue.worker_gone_s * 1000
        self._alive = redis.register_script(ALIVE)
        self._known: tuple[float, int] = (0.0, 0)

    async def alive(self) -> int:
        """Workers that beat within `WORKER_GONE_S`, by Redis's clock."""
        until, count = self._known
        if until > time.monotonic():
            return count
        count = int(await self._alive(keys=[self._key], args=[self._gone_ms]))
        self._known = (time.monotonic() + CACHE_S, count)
        return count
