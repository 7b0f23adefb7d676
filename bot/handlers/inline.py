"""Inline mode: `@Bot a prompt` in any chat (enable it with @BotFather's /setinline)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import Router
from aiogram.types import InlineQuery
from aiogram.utils.i18n import gettext as _
from redis.exceptions import RedisError

from bot import texts
from bot.services.inline import article

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

    from bot.services.inline import InlineService

router = Router(name=__name__)
log = logging.getLogger(__name__)


@router.inline_query()
async def inline_prompt(query: InlineQuery, inline: InlineService, i18n: I18n) -> None:
    """Queue the pictures (delivery answers), or answer at once with a short article."""
    try:
        answer = await inline.take(query, i18n.current_locale, _)
    except RedisError:
        log.exception("Redis unavailable while taking an inline query")
        answer = [article("unavailable", _(texts.UNAVAILABLE))]
    if answer is not None:
        await query.answer(answer, cache_time=0, is_personal=True)  # type: ignore[arg-type]
