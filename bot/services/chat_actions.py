"""The chat's "sending photo…" line while a picture is being made."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import Message


async def show_upload(
    bot: Bot, message: Message, action: ChatAction = ChatAction.UPLOAD_PHOTO
) -> None:
    """Best effort: a lost chat action costs the user nothing, so it never fails a request."""
    with contextlib.suppress(TelegramAPIError, asyncio.TimeoutError):
        await bot.send_chat_action(
            message.chat.id,
            action,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
        )
