"""Inline mode: `@Bot a prompt` in any chat offers freshly drawn pictures to pick from.

A query is drawn only once its user stops typing: the update id of each user's newest query
is kept in Redis, and a query not still the newest after `INLINE_DEBOUNCE_S` is dropped
unanswered, as Telegram's client only shows the latest. It passes the same admission as any
prompt, then becomes one job of four seeds; delivery uploads the images once, to one of the
storage chats, to get file ids, and answers the query with them
(`bot/delivery/inline_sending.py`).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Final

from aiogram.types import InlineQueryResultArticle, InputTextMessageContent

from bot import texts
from bot.play.buttons import VARIATIONS
from bot.play.edit_records import NOTE_NEWEST
from bot.requests.admission import Refused
from bot.requests.imagine import Ask
from bot.shared.running import slot_lent

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiogram.types import InlineQuery
    from redis.asyncio import Redis

    from bot.config import PlaySettings
    from bot.requests.imagine import ImagineService
    from bot.shared.origin import Origin
    from common.protocol import Keys

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
        self, redis: Redis, keys: Keys, imagine: ImagineService, settings: PlaySettings
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._imagine = imagine
        self._settings = settings
        self._note_newest = redis.register_script(NOTE_NEWEST)

    async def _latest(self, origin: Origin) -> bool:
        """Wait for the user to stop typing; True when this query is still their latest.

        Queries are ordered by update id (`Origin.revision`), not by which handler got to
        Redis first: two queries handled at once must not leave the older one standing. The
        wait gives the intake slot back, so a user typing holds no other chat's update up."""
        key = self._keys.inline_latest(origin.user_id)
        ttl_s = max(60, int(self._settings.inline_debounce_s) + 60)
        newest = await self._note_newest(keys=[key], args=[origin.revision, ttl_s])
        if int(newest) > origin.revision:
            return False
        async with slot_lent():
            await asyncio.sleep(self._settings.inline_debounce_s)
        latest = await self._redis.hget(key, "revision")
        return latest is not None and int(latest) == origin.revision

    async def take(
        self, query: InlineQuery, origin: Origin, translate: Callable[[str], str]
    ) -> list[InlineQueryResultArticle] | None:
        """Queue the query's job (None: delivery answers it, or a newer query supersedes it),
        or return what to answer at once: a hint, inline mode being off, or a refusal."""
        if not self._settings.storage_chat_id:
            return [article("off", translate(texts.INLINE_OFF))]
        if not query.query.strip():
            return [article("hint", translate(texts.INLINE_HINT))]
        if not await self._latest(origin):
            return None
        ask = Ask(origin, query.query, "inline", VARIATIONS, inline_query_id=query.id)
        outcome = await self._imagine.request(ask)
        if isinstance(outcome, Refused):
            return [article("refused", translate(outcome.text).format(**outcome.values))]
        return None
