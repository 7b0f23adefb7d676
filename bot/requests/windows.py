"""Moving windows of requests in Redis, checked together and charged together.

One Lua call per request: every window the request falls under (its group's, its user's)
is checked first, and only when all of them have room is it counted in each. A refused try
therefore spends nobody's allowance: a member retrying at their own limit cannot lock their
group out. Times come from Redis itself (`TIME`), so bot processes on hosts whose clocks
differ keep the same windows.

A window is a sorted set of request ids scored by when they were admitted, so a request
handled twice (the same update, the same job id) is counted once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: the windows. ARGV[1]: the request id; then per window its limit and length in ms.
# Returns {0, 0} when admitted, else {the 1-based index of the full window, ms until it has
# room again}.
_CHARGE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local length = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - length)
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) == false
     and redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return {i, tonumber(oldest[2]) + length - now}
  end
end
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) == false then
    redis.call('ZADD', KEYS[i], now, ARGV[1])
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1])
end
return {0, 0}
"""


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    limit: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Full:
    """The first window without room, and how long until it has some."""

    window: Window
    retry_after_s: int


class Windows:
    def __init__(self, redis: Redis) -> None:
        self._charge = redis.register_script(_CHARGE)

    async def charge(self, request_id: str, windows: list[Window]) -> Full | None:
        """Count the request in every window, or in none when one of them is full."""
        args: list[str | int] = [request_id]
        for window in windows:
            args += [window.limit, int(window.seconds * 1000)]
        full, wait_ms = await self._charge(keys=[w.key for w in windows], args=args)
        if not full:
            return None
        return Full(windows[int(full) - 1], max(1, math.ceil(int(wait_ms) / 1000)))
