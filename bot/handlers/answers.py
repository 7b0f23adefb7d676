"""What a prompt handler says once its request is done: a refusal, or the first-use notice."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import gettext as _
from redis.exceptions import RedisError

from bot import texts
from bot.outbound.aside import aside
from bot.requests.admission import Refused

if TYPE_CHECKING:
    from aiogram.types import Message

    from bot.community.chat_rules import ChatRules
    from bot.requests.imagine import Queued
    from bot.shared.origin import Origin

log = logging.getLogger(__name__)


async def answer(message: Message, outcome: Queued | Refused) -> None:
    """Say why not (unless the user heard a refusal a moment ago), or, on a user's first
    picture, the licence notice: sent after the job is queued, so nothing delays it."""
    if isinstance(outcome, Refused):
        if outcome.tell:
            # One answer about the whole group (busy, drawing off) is for all its members.
            with aside(None) if outcome.everyone else contextlib.nullcontext():
                await message.reply(_(outcome.text).format(**outcome.values))
    elif outcome.first_use:
        try:
            await message.answer(_(texts.FIRST_USE))
        except (TelegramAPIError, RedisError) as exc:
            # The picture is on its way; an apology for a lost notice would only confuse (with
            # Redis away the pacer cannot give it a turn).
            log.warning("licence notice for chat %s not sent: %s", message.chat.id, exc)


async def may_configure(message: Message, origin: Origin, chat_rules: ChatRules) -> bool:
    """Whether the sender may change the chat's settings (its admins, in a group); anyone
    else is told so, once an interval in the chat."""
    if await chat_rules.admins.is_admin(origin):
        return True
    if await chat_rules.replies.first(origin.chat_id, "admins_only"):
        await message.reply(_(texts.SETTINGS_ADMINS_ONLY))
    return False
