"""/style: the default style of a chat, from a panel of buttons (in groups, its admins')."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import texts
from bot.community.style_panel import StyleButton, StylePanel
from bot.handlers.answers import may_configure
from bot.outbound.aside import edit_in_place

if TYPE_CHECKING:
    from bot.community.chat_rules import ChatRules
    from bot.shared.origin import Origin

router = Router(name=__name__)


@router.message(Command("style"))
async def style_command(message: Message, origin: Origin, chat_rules: ChatRules) -> None:
    """Show the style panel to whoever may choose the chat's style."""
    if not await may_configure(message, origin, chat_rules):
        return
    settings = await chat_rules.store.get(origin.chat_id)
    panel = StylePanel(chat_rules.store, origin.group, origin.locale)
    await message.reply(panel.text(settings), reply_markup=panel.keyboard(settings))


@router.callback_query(StyleButton.filter())
async def style_pressed(
    query: CallbackQuery, callback_data: StyleButton, origin: Origin | None, chat_rules: ChatRules
) -> None:
    """Choose the style and redraw the panel in place; others get an alert."""
    if origin is None or not isinstance(query.message, Message):
        await query.answer(_(texts.STALE_BUTTON), show_alert=True)
        return
    done = await chat_rules.configure(origin, "style", callback_data.key)
    if isinstance(done, str):
        await query.answer(_(done), show_alert=True)
        return
    before, after = done
    await query.answer(_(texts.SETTINGS_SAVED))
    if after != before:
        panel = StylePanel(chat_rules.store, origin.group, origin.locale)
        await edit_in_place(query.message, panel.text(after), panel.keyboard(after))
