"""The send budget every bot process shares: sliding windows of sent messages in Redis.

Windows: "all" (`PACE_TOTAL_PER_S` a second), "chat:{id}" (`PACE_CHAT_BURST` per
`PACE_CHAT_BURST / PACE_CHAT_PER_S` seconds) and "group:{id}" (`PACE_GROUP_PER_MIN` a minute,
for groups, supergroups and channels). Each is kept `MARGIN_S` longer than its period, so
network jitter between the bot and Telegram never turns an exact fit into a 429. A call of
several messages (an album) goes once its messages fit, or once a window too small for it is
empty; then the messages past the window's size are owed, and count as sent later, one per
`period / limit`, so an album of four in a chat that takes one a second keeps that chat
four seconds, not three. A 429 holds a chat (or everyone) for Telegram's `retry_after`.

Reservations made while one is on its way to Redis go together in the next call: under load
the pacer costs one round trip per batch, not per message, and one connection at most.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.config import PacingSettings
    from common.protocol import Keys

log = logging.getLogger(__name__)

MARGIN_S: Final = 0.25
Chat = int | str | None

# ARGV: the number of requests, then per request: cost, reserve, scope count and (limit,
# period ms) per scope. KEYS: (window, hold) per scope of each request, in the same order.
# Returns one wait per request: 0 with its messages counted, or the milliseconds to wait with
# nothing counted. `reserve` keeps that many slots of each window for others (status sends).
_TURNS: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local a, k, waits = 2, 1, {}
for r = 1, tonumber(ARGV[1]) do
  local cost, reserve, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local wait = 0
  for i = 0, n - 1 do
    local window = KEYS[k + 2 * i]
    local held = redis.call('PTTL', KEYS[k + 2 * i + 1])
    if held > wait then wait = held end
    local limit = math.max(1, tonumber(ARGV[a + 2 * i]) - reserve)
    local period = tonumber(ARGV[a + 2 * i + 1])
    redis.call('ZREMRANGEBYSCORE', window, '-inf', now - period)
    local used = redis.call('ZCARD', window)
    local need = math.min(cost, limit)
    if used + need > limit then
      local at = used + need - limit - 1
      local last = redis.call('ZRANGE', window, at, at, 'WITHSCORES')
      local free_in = tonumber(last[2]) + period - now
      if free_in > wait then wait = free_in end
    end
  end
  if wait == 0 then
    for i = 0, n - 1 do
      local window = KEYS[k + 2 * i]
      local limit = tonumber(ARGV[a + 2 * i])
      local period = tonumber(ARGV[a + 2 * i + 1])
      local used = redis.call('ZCARD', window)
      local last = now
      for j = 1, cost do
        -- Messages past the window's limit (an album bigger than it) are owed: each counts
        -- from a later moment, one limit's share of the period apart, so the average rate
        -- holds and not only the burst.
        last = now + math.floor(math.max(0, used + j - limit) * period / limit)
        redis.call('ZADD', window, last, now .. '-' .. (used + j))
      end
      redis.call('PEXPIRE', window, last - now + period)
    end
  end
  waits[r] = wait
  a, k = a + 2 * n, k + 2 * n
end
return waits
"""

Request = tuple[list[str], list[int], "asyncio.Future[float]"]


class SendBudget:
    def __init__(self, redis: Redis, keys: Keys, settings: PacingSettings) -> None:
        self._redis = redis
        self._keys = keys
        self._settings = settings
        self._turns = redis.register_script(_TURNS)
        self._waiting: list[Request] = []
        self._sending: asyncio.Task[None] | None = None

    async def reserve(self, chat: Chat, cost: int, reserve: int = 0) -> float:
        """0 once the call's messages are counted, else the seconds until they may be.
        Redis being unreachable counts as 0: sending unpaced beats not sending."""
        keys: list[str] = []
        args = [cost, reserve, 0]
        for scope, limit, period_s in self._scopes(chat):
            keys += [self._keys.pace(scope), self._keys.pace_hold(scope)]
            args += [limit, int((period_s + MARGIN_S) * 1000)]
        args[2] = len(keys) // 2
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, future))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send_batches())
        return await future

    async def _send_batches(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            keys = [key for request in batch for key in request[0]]
            args = [len(batch), *(arg for request in batch for arg in request[1])]
            try:
                waits = [int(ms) / 1000 for ms in await self._turns(keys=keys, args=args)]
            except Exception as exc:  # Redis down, or any surprise: never block sending
                log.debug("sending unpaced, the send budget failed: %s", exc)
                waits = [0.0] * len(batch)
            for (_, _, future), wait_s in zip(batch, waits, strict=True):
                if not future.done():
                    future.set_result(wait_s)

    async def hold(self, chat: Chat, retry_after: int) -> None:
        """Telegram said 429: nothing more for this chat (or anyone) for `retry_after` s."""
        scope = "all" if chat is None else f"chat:{chat}"
        try:
            await self._redis.set(self._keys.pace_hold(scope), 1, px=max(1, retry_after) * 1000)
        except RedisError as exc:
            log.debug("could not hold chat %s: %s", chat, exc)

    def _scopes(self, chat: Chat) -> list[tuple[str, int, float]]:
        settings = self._settings
        scopes = [("all", settings.pace_total_per_s, 1.0)]
        if chat is None:
            return scopes
        burst = settings.pace_chat_burst
        scopes.append((f"chat:{chat}", burst, burst / settings.pace_chat_per_s))
        # Groups, supergroups and channels have negative ids (or a public @username).
        if isinstance(chat, str) or chat < 0:
            scopes.append((f"group:{chat}", settings.pace_group_per_min, 60.0))
        return scopes
