"""/start, /help and /license: what the bot does, its commands and the licence notice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot import texts

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.outbound.replies import Kind, Replies

router = Router(name=__name__)


@router.message(CommandStart())
@router.message(Command("help"))
async def help_message(message: Message, bot: Bot, settings: Settings, replies: Replies) -> None:
    """Explain the bot."""
    kind: Kind = "start" if (message.text or "").startswith("/start") else "help"
    if not await replies.first(message.chat.id, kind):
        return
    me = await bot.me()
    text = _(texts.HELP).format(
        bot=me.username,
        group_default=settings.safety.safety_group_default,
        private_default=settings.safety.safety_private_default,
    )
    await message.answer(text, disable_web_page_preview=True)


@router.message(Command("license", "licence"))
async def license_message(message: Message, replies: Replies) -> None:
    """State the licence of the images."""
    if not await replies.first(message.chat.id, "license"):
        return
    await message.answer(_(texts.LICENSE), disable_web_page_preview=True)
