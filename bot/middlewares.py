"""Middlewares: who may talk to the bot at all (allow-lists, bans), and where a request
came from (`Origin`, built once per handled update)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineQuery,
    Message,
    TelegramObject,
    Update,
    User,
)
from aiogram.utils.i18n import gettext as _
from redis.exceptions import RedisError

from bot import texts
from bot.outbound.aside import aside, receiver
from bot.shared.origin import Origin, sender_id, update_key

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

    from bot.community.control import Community
    from bot.config import AccessSettings, Settings

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class AccessMiddleware(BaseMiddleware):
    """Drops updates from banned users and, in allow-list mode, from everyone not listed.

    A chat outside the allow-list is told once and then ignored; banned users are ignored
    without an answer, so a ban cannot be used to make the bot talk in a group.
    """

    # Settings and services come from the dispatcher's data on every update, so the
    # middleware holds no state of its own.

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        settings: Settings = data["settings"]
        community: Community = data["community"]
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is not None and user.id in settings.limits.admin_ids:
            return await handler(event, data)
        if not self._allowed(settings.access, user, chat):
            if isinstance(event, Message) and chat and await _told_once(community, chat.id):
                await event.answer(_(texts.NOT_ALLOWED))
            return None
        sender = sender_id(event, user)
        if sender is not None and await _is_banned(community, sender):
            return None
        return await handler(event, data)

    @staticmethod
    def _allowed(access: AccessSettings, user: User | None, chat: Chat | None) -> bool:
        chats, users = access.allowed_chat_ids, access.allowed_user_ids
        if not chats and not users:
            return True
        return bool((chat and chat.id in chats) or (user and user.id in users))


# With Redis down the ban list cannot be read; the handler then answers "temporarily
# unavailable", which is what a user (banned or not) should see instead of an error.
async def _is_banned(community: Community, user_id: int) -> bool:
    try:
        return await community.is_banned(user_id)
    except RedisError:
        return False


async def _told_once(community: Community, chat_id: int) -> bool:
    try:
        return await community.told_once(chat_id)
    except RedisError:
        return False


class OriginMiddleware(BaseMiddleware):
    """Inner: runs only for updates a handler took, so chatter costs nothing.

    A button under a message Telegram no longer shows the bot gets `origin=None`: there is
    nowhere to answer but the press itself.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        i18n: I18n = data["i18n"]
        locale = i18n.current_locale
        origin: Origin | None = None
        if isinstance(event, Message):
            update: Update = data["event_update"]
            revision = update.update_id if update.event_type == "edited_message" else 0
            origin = Origin.of_message(event, locale, revision)
        elif isinstance(event, CallbackQuery) and isinstance(event.message, Message):
            origin = Origin.of_press(event, event.message, locale)
        elif isinstance(event, InlineQuery):
            settings: Settings = data["settings"]
            storage = settings.play.storage_chat_id  # delivery picks one with room, see there
            origin = Origin.of_inline(event, storage[0] if storage else 0, locale)
            origin = origin.model_copy(update={"revision": data["event_update"].update_id})
        received: Update | None = data.get("event_update")
        if origin is not None and received is not None:
            token = data["settings"].telegram.bot_token.get_secret_value()
            origin = origin.model_copy(update={"update": update_key(token, received.update_id)})
        data["origin"] = origin
        # In a group, what the handler sends concerns the member who asked: for them alone.
        with aside(receiver(origin)):
            return await handler(event, data)
