"""Moving windows of requests in Redis, checked together and charged together.

One Lua call per request: the user's in-flight slot and every window the request falls under
(its group's, its user's) are checked first, and only when all of them have room is it
counted in each. A refused try
therefore spends nobody's allowance: a member retrying at their own limit cannot lock their
group out. Times come from Redis itself (`TIME`), so bot processes on hosts whose clocks
differ keep the same windows.

A window is a sorted set of request ids scored by when they were admitted, so a request
handled twice (the same update, the same job id) is counted once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS[1]: the user's in-flight set, then the windows. ARGV: the request id, the in-flight
# cap, now by the bot's clock and the age (both in s) past which a slot no longer counts;
# then per window its limit and length in ms. Returns {0, 0} when admitted, {-1, 0} when the
# user has as many requests in flight as the cap allows, else {the 1-based index of the full
# window, ms until it has room again}. The request's slot is taken only when it is admitted.
_CHARGE: Final = """
local id = ARGV[1]
local cap, now, age = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - age)
if redis.call('ZSCORE', KEYS[1], id) == false and redis.call('ZCARD', KEYS[1]) >= cap then
  return {-1, 0}
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #KEYS do
  local limit = tonumber(ARGV[2 * i + 1])
  local length = tonumber(ARGV[2 * i + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ms - length)
  if redis.call('ZSCORE', KEYS[i], id) == false and redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    redis.call('ZREM', KEYS[1], id)
    return {i - 1, tonumber(oldest[2]) + length - ms}
  end
end
for i = 2, #KEYS do
  if redis.call('ZSCORE', KEYS[i], id) == false then
    redis.call('ZADD', KEYS[i], ms, id)
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 2])
end
redis.call('ZADD', KEYS[1], now, id)
redis.call('EXPIRE', KEYS[1], math.ceil(age))
return {0, 0}
"""


@dataclass(frozen=True, slots=True)
class Slot:
    """A user's requests in flight: at most `limit` at once, each counted until it is
    released, or until it is `max_age_s` old (a lost job never locks anyone out)."""

    key: str
    limit: int
    max_age_s: float


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    limit: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Full:
    """The first window without room, and how long until it has some; no window: the user
    has as many requests in flight as the slot allows."""

    window: Window | None
    retry_after_s: int


class Windows:
    def __init__(self, redis: Redis) -> None:
        self._charge = redis.register_script(_CHARGE)

    async def charge(self, request_id: str, slot: Slot, windows: list[Window]) -> Full | None:
        """Take the request's slot and count it in every window, or do neither when the slot
        or one of the windows is full: one atomic call."""
        args: list[str | int | float] = [request_id, slot.limit, time.time(), slot.max_age_s]
        for window in windows:
            args += [window.limit, int(window.seconds * 1000)]
        keys = [slot.key, *(w.key for w in windows)]
        full, wait_ms = await self._charge(keys=keys, args=args)
        if not full:
            return None
        if int(full) < 0:
            return Full(None, 0)
        return Full(windows[int(full) - 1], max(1, math.ceil(int(wait_ms) / 1000)))
