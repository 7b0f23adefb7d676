"""The buttons under every photo: 🔁 regenerate, 🎲 variations, 📄 file.

The press is answered at once (the spinner stops), and refusals go to the presser only, as an
alert: in a group a button never makes the bot talk to everyone about one person's limits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatAction, ChatType
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from redis.exceptions import RedisError

from bot import texts
from bot.services.chat_actions import show_upload
from bot.services.images import ImageButton
from bot.services.imagine import Refused
from bot.services.play import Where

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.utils.i18n import I18n

    from bot.services.play import PlayService
    from bot.services.status import StatusBoard

router = Router(name=__name__)
log = logging.getLogger(__name__)
GROUPS = {ChatType.GROUP, ChatType.SUPERGROUP}


@router.callback_query(ImageButton.filter())
async def pressed(
    query: CallbackQuery,
    callback_data: ImageButton,
    bot: Bot,
    play: PlayService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    """Queue the button's job for whoever pressed it, replying to the photo."""
    message = query.message
    if not isinstance(message, Message):  # too old for Telegram to show it to the bot
        await query.answer(_(texts.STALE_BUTTON), show_alert=True)
        return
    group = message.chat.type in GROUPS
    where = Where(
        query.from_user.id, message.chat.id, message.message_id, group, i18n.current_locale
    )
    try:
        outcome = await play.press(callback_data, where)
    except RedisError:
        log.exception("Redis unavailable while taking a button press")
        await query.answer(_(texts.UNAVAILABLE), show_alert=True)
        return
    if isinstance(outcome, Refused):
        await query.answer(_(outcome.text).format(**outcome.values), show_alert=True)
        return
    await query.answer(_(texts.DRAWING))
    kind = ChatAction.UPLOAD_DOCUMENT if callback_data.action == "f" else ChatAction.UPLOAD_PHOTO
    await show_upload(bot, message, kind)
    if outcome.position:
        await status.post(outcome.context, outcome.position, group)


@router.callback_query(F.data.startswith(f"{ImageButton.__prefix__}:"))
async def forged(query: CallbackQuery) -> None:
    """Image-button data that does not parse: forged, or from an incompatible version."""
    await query.answer(_(texts.STALE_BUTTON), show_alert=True)
