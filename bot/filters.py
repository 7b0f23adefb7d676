"""Filters shared by handler modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.filters import BaseFilter
from aiogram.types import Message

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.requests.fairuse import FairUse


class MentionsMe(BaseFilter):
    """A text message mentioning this bot (`@BotName a prompt`); passes the rest as `prompt`."""

    async def __call__(self, message: Message, bot: Bot) -> bool | dict[str, Any]:
        if not message.text or not message.entities:
            return False
        me = await bot.me()
        handle = f"@{me.username}".lower()
        for entity in message.entities:
            if entity.type != "mention":
                continue
            mention = entity.extract_from(message.text)
            if mention.lower() == handle:
                return {"prompt": message.text.replace(mention, " ")}
        return False


class IsAdmin(BaseFilter):
    """The sender is listed in ADMIN_IDS."""

    async def __call__(self, message: Message, fair_use: FairUse) -> bool:
        return message.from_user is not None and fair_use.is_admin(message.from_user.id)


class RepliesToMe(BaseFilter):
    """A reply to a message this bot sent (in groups: text under one of its photos)."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        replied = message.reply_to_message
        return bool(replied and replied.from_user and replied.from_user.id == bot.id)
