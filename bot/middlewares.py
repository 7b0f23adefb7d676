"""Outer middlewares: who may talk to the bot at all (allow-lists, bans)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, Message, TelegramObject, User
from aiogram.utils.i18n import gettext as _

from bot import texts

if TYPE_CHECKING:
    from bot.config import AccessSettings, LimitSettings
    from bot.services.community import Community

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class AccessMiddleware(BaseMiddleware):
    """Drops updates from banned users and, in allow-list mode, from everyone not listed.

    A chat outside the allow-list is told once and then ignored; banned users are ignored
    without an answer, so a ban cannot be used to make the bot talk in a group.
    """

    def __init__(self, access: AccessSettings, limits: LimitSettings, community: Community):
        self.access = access
        self.admins = limits.admin_ids
        self.community = community

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is not None and user.id in self.admins:
            return await handler(event, data)
        if not self._allowed(user, chat):
            if isinstance(event, Message) and chat and await self.community.told_once(chat.id):
                await event.answer(_(texts.NOT_ALLOWED))
            return None
        if user is not None and await self.community.is_banned(user.id):
            return None
        return await handler(event, data)

    def _allowed(self, user: User | None, chat: Chat | None) -> bool:
        chats, users = self.access.allowed_chat_ids, self.access.allowed_user_ids
        if not chats and not users:
            return True
        return bool((chat and chat.id in chats) or (user and user.id in users))
