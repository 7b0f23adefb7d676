"""Long polling that loses nothing: a page of updates is confirmed only once it is recorded.

Telegram confirms every update below the `offset` of the next `getUpdates`. The offset moves
past a page only after the whole page is in the inbox, so a bot that dies before that gets the
same page again, and the inbox keeps each update once.

A page that cannot be recorded because Redis is away is handled at once instead (`direct`):
the handlers meet the same outage and answer "temporarily unavailable", so nobody waits in
silence for the outage to end; the page is confirmed after that. Should Redis have taken the
page after all (its answer lost), the job's `update:` marker still makes one job of it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Final

from aiogram.exceptions import AiogramError
from aiogram.methods import TelegramMethod
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.config import TelegramSettings
    from bot.intake.consumer import Feed
    from bot.intake.inbox import Inbox

log = logging.getLogger(__name__)

MAX_BACKOFF_S: Final = 30.0


class GetRawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """`getUpdates` answered as plain JSON: the inbox stores updates as Telegram sent them,
    and the dispatcher reads them once, when they are handled."""

    __returning__: ClassVar[type] = list[dict[str, Any]]
    __api_method__: ClassVar[str] = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class Poller:
    def __init__(
        self,
        bot: Bot,
        inbox: Inbox,
        settings: TelegramSettings,
        allowed: list[str],
        direct: Feed,
    ) -> None:
        self._bot = bot
        self._inbox = inbox
        self._timeout = settings.polling_timeout_s
        self._allowed = allowed
        self._direct = direct

    async def run(self) -> None:
        """Poll until cancelled; Telegram or Redis failing only delays the next page."""
        method = GetRawUpdates(timeout=self._timeout, allowed_updates=self._allowed)
        # The request may take the whole long poll plus the usual request timeout.
        request_timeout = int(self._bot.session.timeout + self._timeout)
        backoff = 1.0
        while True:
            try:
                updates = await self._bot(method, request_timeout=request_timeout)
                if updates:
                    await self._keep(updates)
                    method.offset = max(int(u["update_id"]) for u in updates) + 1
            except (AiogramError, RedisError, TimeoutError) as exc:
                log.warning("updates not fetched (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            backoff = 1.0

    async def _keep(self, updates: list[dict[str, Any]]) -> None:
        try:
            await self._inbox.record_many(updates)
        except RedisError as exc:
            log.warning("%d update(s) not recorded (%s); answering them now", len(updates), exc)
            for update in updates:
                await self._direct(update)
