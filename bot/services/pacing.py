"""Outbound pacing: every call that sends or edits a message waits for its turn in Redis.

One budget, shared by every bot process, in sliding windows kept by a Lua script:
`PACE_TOTAL_PER_S` messages a second in all, `PACE_CHAT_BURST` messages per
`PACE_CHAT_BURST / PACE_CHAT_PER_S` seconds in one chat, and `PACE_GROUP_PER_MIN` a minute in
one group or channel. Each window is kept `MARGIN_S` longer than its period, so network jitter
between this bot and Telegram never turns an exact fit into a 429. An album costs one message
per picture; one bigger than a window goes once that window is empty.

How a send waits depends on what it is (`manner`):
- "answer" (default: replies, notices, refusals): waits its turn; a 429 that still comes is
  waited out and tried again, up to `MAX_RETRY_AFTER` times.
- "result" (photos and error answers, `sending.py`): waits its turn up to `RESULT_WAIT_S`,
  beyond that `PaceWait` hands the wait to the sender, which keeps its stream entry alive
  meanwhile; a 429 goes back to the sender's own policy.
- "status" (queue positions): never waits and never takes a chat's last free slot, so photos
  and error answers go first; a chat at its limit gets no status (`SendSkipped`).

A 429 holds the chat (or everyone, when it names no chat) for `retry_after` seconds. Chat
actions, callback answers, inline answers and deletions are not messages and pass straight on.
Redis being unreachable never stops a send: it then goes unpaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Literal

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import Response, TelegramMethod
    from aiogram.methods.base import TelegramType
    from redis.asyncio import Redis

    from bot.config import PacingSettings
    from common.protocol import Keys

log = logging.getLogger(__name__)

Manner = Literal["answer", "result", "status"]
MARGIN_S: Final = 0.25
MAX_RETRY_AFTER: Final = 5
RESULT_WAIT_S: Final = 5.0
_MANNER: ContextVar[Manner] = ContextVar("pacing_manner", default="answer")

# KEYS: (window, hold) per scope. ARGV: cost, reserve, then (limit, period ms) per scope.
# Returns 0 with the messages counted, or the milliseconds to wait with nothing counted.
_TURN: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost, reserve = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait = 0
for i = 1, #KEYS / 2 do
  local window = KEYS[2 * i - 1]
  local held = redis.call('PTTL', KEYS[2 * i])
  if held > wait then wait = held end
  local limit = math.max(1, tonumber(ARGV[2 * i + 1]) - reserve)
  local period = tonumber(ARGV[2 * i + 2])
  redis.call('ZREMRANGEBYSCORE', window, '-inf', now - period)
  local used = redis.call('ZCARD', window)
  local need = math.min(cost, limit)
  if used + need > limit then
    local last = redis.call('ZRANGE', window, used + need - limit - 1, used + need - limit - 1,
                            'WITHSCORES')
    local free_in = tonumber(last[2]) + period - now
    if free_in > wait then wait = free_in end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS / 2 do
  local window = KEYS[2 * i - 1]
  local used = redis.call('ZCARD', window)
  for j = 1, cost do redis.call('ZADD', window, now, now .. '-' .. (used + j)) end
  redis.call('PEXPIRE', window, tonumber(ARGV[2 * i + 2]))
end
return 0
"""


class SendSkipped(Exception):
    """A status send found its chat at the limit: nothing was sent, and that is fine."""


class PaceWait(Exception):
    """A result must wait this long for its turn; the sender waits, keeping its entry."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"wait {seconds:.1f} s for a send slot")
        self.seconds = seconds


@contextlib.contextmanager
def manner(kind: Manner) -> Iterator[None]:
    """Sends made inside this block (in this task) wait the way `kind` does."""
    token = _MANNER.set(kind)
    try:
        yield
    finally:
        _MANNER.reset(token)


def message_cost(method: TelegramMethod[Any]) -> int:
    """How many messages a call counts as; 0 for calls that are not chat messages."""
    name = method.__api_method__
    if name == "sendMediaGroup":
        return len(getattr(method, "media", ()))
    if name in ("copyMessages", "forwardMessages"):
        return len(getattr(method, "message_ids", ()))
    if name == "sendChatAction":
        return 0
    if name.startswith(("send", "editMessage")) or name in ("copyMessage", "forwardMessage"):
        return 1
    return 0


class Pacer(BaseRequestMiddleware):
    """Session middleware: `bot.session.middleware(Pacer(...))` paces every call of the bot."""

    def __init__(self, redis: Redis, keys: Keys, settings: PacingSettings) -> None:
        self._redis = redis
        self._keys = keys
        self._settings = settings
        self._turn = redis.register_script(_TURN)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        cost = message_cost(method)
        if not cost:
            return await make_request(bot, method)
        kind = _MANNER.get()
        chat = getattr(method, "chat_id", None)
        refused = 0
        while True:
            await self._wait_turn(chat, cost, kind)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                refused += 1
                await self._hold(chat, exc.retry_after)
                if kind != "answer" or refused >= MAX_RETRY_AFTER:
                    raise
                log.warning("chat %s: Telegram asks to wait %d s; waiting", chat, exc.retry_after)

    async def _wait_turn(self, chat: int | str | None, cost: int, kind: Manner) -> None:
        waited = 0.0
        while (wait_s := await self._reserve(chat, cost, kind)) > 0:
            if kind == "status":
                raise SendSkipped
            if kind == "result" and waited + wait_s > RESULT_WAIT_S:
                raise PaceWait(wait_s)
            waited += wait_s
            await asyncio.sleep(wait_s)

    async def _reserve(self, chat: int | str | None, cost: int, kind: Manner) -> float:
        """0 once the call's messages are counted, else the seconds until they may be."""
        keys: list[str] = []
        args: list[int] = [cost, 1 if kind == "status" else 0]
        for scope, limit, period_s in self._scopes(chat):
            keys += [self._keys.pace(scope), self._keys.pace_hold(scope)]
            args += [limit, int((period_s + MARGIN_S) * 1000)]
        try:
            wait_ms = await self._turn(keys=keys, args=args)
        except RedisError as exc:
            log.debug("sending unpaced, Redis failed: %s", exc)
            return 0.0
        return int(wait_ms) / 1000

    def _scopes(self, chat: int | str | None) -> list[tuple[str, int, float]]:
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

    async def _hold(self, chat: int | str | None, retry_after: int) -> None:
        scope = "all" if chat is None else f"chat:{chat}"
        try:
            await self._redis.set(self._keys.pace_hold(scope), 1, px=max(1, retry_after) * 1000)
        except RedisError as exc:
            log.debug("could not hold chat %s: %s", chat, exc)
