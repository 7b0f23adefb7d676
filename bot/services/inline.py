"""Inline mode: `@Bot a prompt` in any chat offers freshly drawn pictures to pick from.

A query is drawn only once its user stops typing (the latest query id per user is kept in
Redis for `INLINE_DEBOUNCE_S`; an older one is dropped unanswered, as Telegram's client only
shows the latest). It passes the same admission as any prompt, then becomes one job of four
seeds; delivery uploads the images to the storage chat once to get file ids, and answers the
query with them (`inline_sending.py`).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Final

from aiogram.types import InlineQueryResultArticle, InputTextMessageContent

from bot import texts
from bot.services.images import VARIATIONS
from bot.services.imagine import Refused

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiogram.types import InlineQuery
    from redis.asyncio import Redis

    from bot.config import PlaySettings
    from bot.services.imagine import ImagineService

_TAGS: Final = re.compile(r"<[^>]+>")


def article(result_id: str, text: str) -> InlineQueryResultArticle:
    """A one-line answer: shown as the only result, sent as plain text if picked."""
    plain = _TAGS.sub("", text)
    return InlineQueryResultArticle(
        id=result_id,
        title=plain,
        input_message_content=InputTextMessageContent(message_text=plain, parse_mode=None),
    )


class InlineService:
    def __init__(
        self, redis: Redis, imagine: ImagineService, settings: PlaySettings, prefix: str
    ) -> None:
        self._redis = redis
        self._imagine = imagine
        self._settings = settings
        self._prefix = prefix

    async def _latest(self, query: InlineQuery) -> bool:
        """Wait for the user to stop typing; True when this query is still their latest."""
        key = f"{self._prefix}:inline:{query.from_user.id}"
        await self._redis.set(key, query.id, ex=60)
        await asyncio.sleep(self._settings.inline_debounce_s)
        latest = await self._redis.get(key)
        return bool(latest == query.id.encode())

    async def take(
        self, query: InlineQuery, locale: str, translate: Callable[[str], str]
    ) -> list[InlineQueryResultArticle] | None:
        """Queue the query's job (None: delivery answers it, or a newer query supersedes it),
        or return what to answer at once: a hint, inline mode being off, or a refusal."""
        storage = self._settings.storage_chat_id
        if not storage:
            return [article("off", translate(texts.INLINE_OFF))]
        if not query.query.strip():
            return [article("hint", translate(texts.INLINE_HINT))]
        if not await self._latest(query):
            return None
        user_id = query.from_user.id
        outcome = await self._imagine.admit(
            query.query, user_id=user_id, chat_id=user_id, group=False
        )
        if isinstance(outcome, Refused):
            return [article("refused", translate(outcome.text).format(**outcome.values))]
        await self._imagine.enqueue(
            outcome,
            chat_id=storage,
            message_id=0,
            locale=locale,
            action="inline",
            count=VARIATIONS,
            inline_query_id=query.id,
        )
        return None
