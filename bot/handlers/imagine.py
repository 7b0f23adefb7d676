"""Prompts: /imagine anywhere, plain text in private, `@Bot prompt` in groups."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from redis.exceptions import RedisError

from bot import texts
from bot.filters import MentionsMe
from bot.handlers.answers import GROUPS, notice_first_use, sender_id, tell
from bot.services.chat_actions import show_upload
from bot.services.imagine import Refused

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.utils.i18n import I18n

    from bot.services.imagine import ImagineService
    from bot.services.status import StatusBoard

router = Router(name=__name__)
log = logging.getLogger(__name__)


@router.message(Command("imagine"))
async def imagine_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    imagine: ImagineService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    """Draw the prompt given after the command."""
    await request(message, command.args, bot, imagine, status, i18n)


@router.message(F.chat.type == ChatType.PRIVATE, F.text, ~F.text.startswith("/"))
async def imagine_text(
    message: Message, bot: Bot, imagine: ImagineService, status: StatusBoard, i18n: I18n
) -> None:
    """Draw a plain private message."""
    await request(message, message.text, bot, imagine, status, i18n)


@router.message(F.chat.type.in_(GROUPS), F.text, ~F.text.startswith("/"), MentionsMe())
async def imagine_mention(
    message: Message,
    prompt: str,
    bot: Bot,
    imagine: ImagineService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    """Draw `@Bot prompt` in a group."""
    await request(message, prompt, bot, imagine, status, i18n)


async def request(
    message: Message,
    raw: str | None,
    bot: Bot,
    imagine: ImagineService,
    status: StatusBoard,
    i18n: I18n,
) -> None:
    group = message.chat.type in GROUPS
    try:
        outcome = await imagine.admit(
            raw, user_id=sender_id(message), chat_id=message.chat.id, group=group
        )
        if isinstance(outcome, Refused):
            await tell(message, outcome)
            return
        await notice_first_use(message, outcome.first_use)
        # Started before the enqueue so "sending photo…" reaches Telegram ahead of the photo.
        action = asyncio.create_task(show_upload(bot, message))
        queued = await imagine.enqueue(
            outcome,
            chat_id=message.chat.id,
            message_id=message.message_id,
            locale=i18n.current_locale,
        )
    except RedisError:
        log.exception("could not enqueue a job")
        await message.reply(_(texts.UNAVAILABLE))
        return
    await action
    if queued.position:
        await status.post(queued.context, queued.position, group)
