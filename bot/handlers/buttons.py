"""The buttons under every photo: 🔁 regenerate, 🎲 variations, 📄 file.

The press is answered at once (the spinner stops), and refusals go to the presser only, as an
alert: in a group a button never makes the bot talk to everyone about one person's limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import gettext as _

from bot import texts
from bot.play.buttons import ImageButton
from bot.requests.admission import Refused

if TYPE_CHECKING:
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
