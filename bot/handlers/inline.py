"""Inline mode: `@Bot a prompt` in any chat (enable it with @BotFather's /setinline)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Router
from aiogram.types import InlineQuery
from aiogram.utils.i18n import gettext as _

if TYPE_CHECKING:
    from bot.play.inline import InlineService
    from bot.shared.origin import Origin

router = Router(name=__name__)


@router.inline_query()
async def inline_prompt(query: InlineQuery, origin: Origin, inline: InlineService) -> None:
    """Queue the pictures (delivery answers), or answer at once with a short article."""
    answer = await inline.take(query, origin, _)
    if answer is not None:
        await query.answer(answer, cache_time=0, is_personal=True)  # type: ignore[arg-type]
