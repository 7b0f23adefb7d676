"""Whatever no other router took: unknown commands get a pointer to /help in private chats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot import texts

if TYPE_CHECKING:
    from bot.outbound.replies import Replies

router = Router(name=__name__)
# In groups, commands meant for other bots are none of our business.
router.message.filter(F.chat.type == ChatType.PRIVATE)


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, replies: Replies) -> None:
    """Point to /help."""
    if not await replies.first(message.chat.id, "unknown"):
        return
    await message.answer(_(texts.UNKNOWN_COMMAND))
