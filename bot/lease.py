"""One live process per `CONSUMER_NAME`: a lease in Redis, renewed while the bot runs.

Two processes reading the inbox and the results stream under one consumer name would both
read that consumer's pending entries at start, and send the same photos twice. So the name is
leased: a process that finds it held waits up to one lease period (a bot that was killed
leaves a lease that runs out by itself), then refuses to start with a clear error. A lease
lost while running (another process took the name during a long Redis outage) stops the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING, Final

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from common.protocol import Keys

log = logging.getLogger(__name__)

# KEYS: the lease. ARGV: this process's token, the lease period (ms). 1: held by us now.
_RENEW: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseHeld(Exception):
    """Another live process holds the consumer name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"CONSUMER_NAME {name!r} is in use by another running bot process; "
            "give each bot process its own CONSUMER_NAME"
        )


class ConsumerLease:
    def __init__(self, redis: Redis, keys: Keys, name: str, lease_s: float) -> None:
        self.name = name
        self._key = keys.consumer_lease(name)
        self._token = secrets.token_hex(16)
        self._lease_ms = int(lease_s * 1000)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self.lost = False

    async def _take(self) -> bool:
        return bool(await self._renew(keys=[self._key], args=[self._token, self._lease_ms]))

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Hold the name, waiting out a lease left by a process that is gone, and Redis
        outages; raises `LeaseHeld` if a live process keeps it. False: stopped meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lease_ms / 1000 + 1
        while True:
            try:
                if await self._take():
                    return True
            except RedisError as exc:
                # Nothing can be read meanwhile either; the wait for a holder starts over.
                log.warning("consumer lease not taken yet, Redis failed: %s", exc)
                deadline = loop.time() + self._lease_ms / 1000 + 1
            else:
                if loop.time() > deadline:
                    raise LeaseHeld(self.name)
                log.info("CONSUMER_NAME %r is held; waiting for its lease to run out", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._lease_ms / 5000)
            if stop.is_set():
                return False

    async def keep(self, stop: asyncio.Event) -> None:
        """Renew until cancelled; if another process holds the name now, stop the bot."""
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                held = await self._take()
            except RedisError as exc:
                log.warning("consumer lease not renewed: %s", exc)
                continue
            if not held:
                log.error("CONSUMER_NAME %r was taken by another process; stopping", self.name)
                self.lost = True
                stop.set()
                return

    async def release(self) -> None:
        try:
            await self._release(keys=[self._key], args=[self._token])
        except RedisError as exc:
            log.warning("consumer lease not released (it runs out by itself): %s", exc)
