"""Outbound pacing: every call that sends or edits a message waits for its turn.

The turn comes from one budget shared by every bot process (`send_budget.py`): about
`PACE_TOTAL_PER_S` messages a second in all, `PACE_CHAT_PER_S` in one chat after a burst of
`PACE_CHAT_BURST`, and `PACE_GROUP_PER_MIN` a minute in one group or channel. An album costs
one message per picture.

How a send waits depends on what it is (`manner`):
- "answer" (default: replies, notices, refusals): waits its turn, but not past
  `PACE_ANSWER_WAIT_S`: beyond that it is dropped (`SendSkipped`), so a chat at its limit
  never keeps a handler (and its intake slot) waiting long; a 429 that still comes is waited
  out and tried again, up to `MAX_RETRY_AFTER` times.
- "result" (photos and error answers, `bot/delivery/sending.py`): waits its turn up to
  `RESULT_WAIT_S`, beyond that `PaceWait` hands the wait to the sender, which keeps its stream
  entry alive meanwhile; a 429 goes back to the sender's own policy.
- "status" (queue positions): never waits and never takes a chat's last free slot, so photos
  and error answers go first; a chat at its limit gets no status (`SendSkipped`).
- "try" (an inline answer's upload to one of several storage chats): never waits; a chat at
  its limit raises `SendSkipped` at once (a 429 its `TelegramRetryAfter`), so the caller can
  try another.

A 429 holds the chat (or everyone, when it names no chat) for `retry_after` seconds. Chat
actions, callback answers, inline answers and deletions are not messages and pass straight on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Literal

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramRetryAfter

from bot import metrics

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import Response, TelegramMethod
    from aiogram.methods.base import TelegramType

    from bot.outbound.send_budget import SendBudget

log = logging.getLogger(__name__)

Manner = Literal["answer", "result", "status", "try"]
MAX_RETRY_AFTER: Final = 5
RESULT_WAIT_S: Final = 5.0
_MANNER: ContextVar[Manner] = ContextVar("pacing_manner", default="answer")


class SendSkipped(Exception):
    """A send that may not wait found its chat at the limit: nothing was sent, and that is
    fine. `wait_s`: how long until it would have had its turn (0 where unknown)."""

    def __init__(self, message: str = "", wait_s: float = 0.0) -> None:
        super().__init__(message)
        self.wait_s = wait_s


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

    def __init__(self, budget: SendBudget, answer_wait_s: float) -> None:
        self._budget = budget
        self._answer_wait_s = answer_wait_s

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
            metrics.SEND_PACE_WAIT.observe(await self._wait_turn(chat, cost, kind))
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                refused += 1
                await self._budget.hold(chat, exc.retry_after)
                if kind != "answer" or refused >= MAX_RETRY_AFTER:
                    raise
                log.warning("chat %s: Telegram asks to wait %d s; waiting", chat, exc.retry_after)

    async def _wait_turn(self, chat: int | str | None, cost: int, kind: Manner) -> float:
        """Seconds waited for the send's turn."""
        waited = 0.0
        reserve = 1 if kind == "status" else 0
        while (wait_s := await self._budget.reserve(chat, cost, reserve)) > 0:
            if kind in ("status", "try") or (
                kind == "answer" and waited + wait_s > self._answer_wait_s
            ):
                raise SendSkipped(f"chat {chat} at its limit for {wait_s:.1f} s more", wait_s)
            if kind == "result" and waited + wait_s > RESULT_WAIT_S:
                raise PaceWait(wait_s)
            waited += wait_s
            await asyncio.sleep(wait_s)
        return waited
