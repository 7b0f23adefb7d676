"""/imagine in any chat, and plain text in a private chat: a prompt becomes a job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatAction, ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from redis.exceptions import RedisError

from bot import texts
from bot.services.prompts import PromptError, clean_prompt

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.config import Settings
    from bot.services.jobs import JobQueue

router = Router(name=__name__)
log = logging.getLogger(__name__)


@router.message(Command("imagine"))
async def imagine_command(
    message: Message, command: CommandObject, bot: Bot, jobs: JobQueue, settings: Settings
) -> None:
    """Draw the prompt given after the command."""
    await submit(message, command.args, bot, jobs, settings)


@router.message(F.chat.type == ChatType.PRIVATE, F.text, ~F.text.startswith("/"))
async def imagine_text(message: Message, bot: Bot, jobs: JobQueue, settings: Settings) -> None:
    """Draw a plain private message."""
    await submit(message, message.text, bot, jobs, settings)


async def submit(
    message: Message, raw: str | None, bot: Bot, jobs: JobQueue, settings: Settings
) -> None:
    try:
        prompt = clean_prompt(raw, settings.prompts.prompt_max_length)
    except PromptError as exc:
        text = texts.USAGE if exc.reason == "empty" else texts.TOO_LONG.format(limit=exc.limit)
        await message.reply(text)
        return
    # Started before the enqueue so "sending photo…" reaches Telegram ahead of the photo.
    action = asyncio.create_task(_upload_action(bot, message))
    try:
        await jobs.submit(
            prompt,
            chat_id=message.chat.id,
            message_id=message.message_id,
            user_id=message.from_user.id if message.from_user else message.chat.id,
        )
    except RedisError:
        log.exception("could not enqueue a job")
        action.cancel()
        await message.reply(texts.UNAVAILABLE)
        return
    await action


async def _upload_action(bot: Bot, message: Message) -> None:
    # A lost chat action costs the user nothing; it must never block or fail the request.
    with contextlib.suppress(TelegramAPIError, asyncio.TimeoutError):
        await bot.send_chat_action(
            message.chat.id,
            ChatAction.UPLOAD_PHOTO,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
        )
