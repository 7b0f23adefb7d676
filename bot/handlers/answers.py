"""What every prompt handler says before a job runs: a refusal, or the first-use notice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiogram.enums import ChatType
from aiogram.utils.i18n import gettext as _

from bot import texts

if TYPE_CHECKING:
    from aiogram.types import Message

    from bot.services.imagine import Refused

GROUPS: Final = {ChatType.GROUP, ChatType.SUPERGROUP}


def sender_id(message: Message) -> int:
    """The user behind a message; a channel posting in a group counts as its chat."""
    return message.from_user.id if message.from_user else message.chat.id


async def tell(message: Message, refused: Refused) -> None:
    """Say why not, unless the user heard a refusal a moment ago."""
    if refused.tell:
        await message.reply(_(refused.text).format(**refused.values))


async def notice_first_use(message: Message, first_use: bool) -> None:
    """The one-time licence notice before a user's first picture."""
    if first_use:
        await message.answer(_(texts.FIRST_USE))
