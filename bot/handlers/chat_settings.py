"""/settings (a panel of buttons) and /safety: a chat's own settings, changed by its admins.

In a group only its admins (as Telegram says, see `bot/community/chat_rules.py`) and the
bot's operators may change anything; in a private chat the user runs their own chat. Everyone
else gets one short answer, and a press on the panel an alert; nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import texts
from bot.community.chat_settings import POLICIES
from bot.community.settings_panel import Panel, SettingsButton
from bot.handlers.answers import may_configure
from bot.outbound.aside import edit_in_place

if TYPE_CHECKING:
    from bot.community.chat_rules import ChatRules
    from bot.community.chat_settings import ChatSettings
    from bot.shared.origin import Origin

router = Router(name=__name__)


def _panel(chat_rules: ChatRules, origin: Origin, settings: ChatSettings) -> Panel:
    # Drawn in the group's language once it has one, so a change of language shows at once.
    return Panel(chat_rules.store, origin.group, settings.language or origin.locale)


@router.message(F.migrate_to_chat_id)
async def migrated(message: Message, chat_rules: ChatRules) -> None:
    """The group became a supergroup: what its admins chose moves to the new chat."""
    if message.migrate_to_chat_id is not None:
        await chat_rules.store.migrate(message.chat.id, message.migrate_to_chat_id)


@router.message(Command("settings"))
async def settings_command(message: Message, origin: Origin, chat_rules: ChatRules) -> None:
    """Show the panel to whoever may change the chat's settings."""
    if not await may_configure(message, origin, chat_rules):
        return
    settings = await chat_rules.store.get(origin.chat_id)
    panel = _panel(chat_rules, origin, settings)
    await message.reply(panel.text(settings), reply_markup=panel.keyboard(settings))


@router.message(Command("safety"))
async def safety_command(
    message: Message, command: CommandObject, origin: Origin, chat_rules: ChatRules
) -> None:
    """`/safety off|blur|block`; without an argument, the chat's policy and how to change it."""
    store = chat_rules.store
    choice = (command.args or "").strip().lower()
    if choice not in POLICIES:
        if not await chat_rules.replies.first(origin.chat_id, "safety"):
            return
        settings = await store.get(origin.chat_id)
        panel = _panel(chat_rules, origin, settings)
        policy = panel.policy_name(store.policy_of(settings, origin.group))
        choices = ", ".join(reversed(store.policies()))
        await message.reply(_(texts.SAFETY_USAGE).format(policy=policy, choices=choices))
        return
    done = await chat_rules.configure(origin, "safety", choice)
    if isinstance(done, str):
        if await chat_rules.replies.first(origin.chat_id, "admins_only"):
            await message.reply(_(done))
        return
    _before, after = done
    policy = _panel(chat_rules, origin, after).policy_name(store.policy_of(after, origin.group))
    await message.reply(_(texts.SAFETY_SET).format(policy=policy))


@router.callback_query(SettingsButton.filter())
async def pressed(
    query: CallbackQuery,
    callback_data: SettingsButton,
    origin: Origin | None,
    chat_rules: ChatRules,
) -> None:
    """Change the setting and redraw the panel in place; others get an alert."""
    if origin is None or not isinstance(query.message, Message):
        await query.answer(_(texts.STALE_BUTTON), show_alert=True)
        return
    done = await chat_rules.configure(origin, callback_data.field, callback_data.value)
    if isinstance(done, str):
        await query.answer(_(done), show_alert=True)
        return
    before, after = done
    panel = _panel(chat_rules, origin, after)
    await query.answer(panel.translate(texts.SETTINGS_SAVED))
    if after != before:
        await edit_in_place(query.message, panel.text(after), panel.keyboard(after))
