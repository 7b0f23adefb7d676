"""/language: English or Russian, remembered per user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot import texts
from bot.shared.languages import LANGUAGES
from bot.shared.origin import sender_id

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

    from bot.community.control import Community
    from bot.outbound.replies import Replies

router = Router(name=__name__)


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


def _keyboard() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=name, callback_data=LanguageChoice(code=code).pack())
        for code, name in LANGUAGES.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


@router.message(Command("language"))
async def language(
    message: Message, command: CommandObject, community: Community, replies: Replies
) -> None:
    """Show the choice, or switch at once with `/language ru`."""
    code = (command.args or "").strip().lower()
    sender = sender_id(message, message.from_user)
    if code in LANGUAGES and sender is not None:
        await community.set_locale(sender, code)
        await message.reply(_(texts.LANGUAGE_SET, locale=code))  # in the language just chosen
        return
    if not await replies.first(message.chat.id, "language"):
        return
    text = _(texts.LANGUAGE_UNKNOWN) if code else _(texts.LANGUAGE_PROMPT)
    await message.reply(text, reply_markup=_keyboard())


@router.callback_query(LanguageChoice.filter())
async def chosen(
    query: CallbackQuery, callback_data: LanguageChoice, community: Community, i18n: I18n
) -> None:
    """Remember the language picked with a button."""
    if callback_data.code not in LANGUAGES:
        await query.answer(_(texts.LANGUAGE_UNKNOWN), show_alert=True)
        return
    await community.set_locale(query.from_user.id, callback_data.code)
    done = i18n.gettext(texts.LANGUAGE_SET, locale=callback_data.code)
    await query.answer(done)
    if query.message is not None and isinstance(query.message, Message):
        await query.message.edit_text(done)


@router.callback_query(F.data.startswith("lang:"))
async def stale(query: CallbackQuery) -> None:
    """A language button whose data does not parse."""
    await query.answer(_(texts.LANGUAGE_UNKNOWN), show_alert=True)
