"""The chat's "sending photo…" line while a picture is being made."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.shared.origin import Origin


async def show_upload(
    bot: Bot, origin: Origin, action: ChatAction = ChatAction.UPLOAD_PHOTO
) -> None:
    """Best effort: a lost chat action costs the user nothing, so it never fails a request."""
    with contextlib.suppress(TelegramAPIError, asyncio.TimeoutError):
        await bot.send_chat_action(origin.chat_id, action, message_thread_id=origin.thread_id)
