"""The buttons under every photo: 🔁 regenerate, 🎲 variations, 📄 file, 🔍 upscale; and
`/upscale` replying to one of those photos, which presses 🔍 for whoever sent it.

The press is answered at once (the spinner stops), and refusals go to the presser only, as an
alert: in a group a button never makes the bot talk to everyone about one person's limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import texts
from bot.handlers.answers import answer
from bot.play.buttons import ImageButton, image_of
from bot.requests.admission import Refused

if TYPE_CHECKING:
    from bot.outbound.replies import Replies
    from bot.play.buttons import PlayService
    from bot.shared.origin import Origin

router = Router(name=__name__)


@router.callback_query(ImageButton.filter())
async def pressed(
    query: CallbackQuery, callback_data: ImageButton, origin: Origin | None, play: PlayService
) -> None:
    """Queue the button's job for whoever pressed it, replying to the photo."""
    if origin is None:  # the message is too old for Telegram to show it to the bot
        await query.answer(_(texts.STALE_BUTTON), show_alert=True)
        return
    outcome = await play.press(callback_data, origin)
    if isinstance(outcome, Refused):
        await query.answer(_(outcome.text).format(**outcome.values), show_alert=True)
        return
    await query.answer(_(texts.DRAWING))


@router.callback_query(F.data.startswith(f"{ImageButton.__prefix__}:"))
async def forged(query: CallbackQuery) -> None:
    """Image-button data that does not parse: forged, or from an incompatible version."""
    await query.answer(_(texts.STALE_BUTTON), show_alert=True)


@router.message(Command("upscale"))
async def upscale_command(
    message: Message, origin: Origin, play: PlayService, replies: Replies
) -> None:
    """`/upscale` replying to one of the bot's photos: its 2× version, replying to that photo
    (refusals reply to the command); anything else gets how to use it."""
    photo = message.reply_to_message
    image = image_of(photo)
    if photo is None or not image:
        if await replies.first(origin.chat_id, "upscale"):
            await message.reply(_(texts.UPSCALE_HOW))
        return
    to_photo = origin.model_copy(update={"message_id": photo.message_id, "editable": False})
    await answer(message, await play.press(ImageButton(action="u", image=image), to_photo))
