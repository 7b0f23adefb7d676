"""Where a request came from and where its answer goes, built once per update.

Every prompt path (typed, captioned picture, button press, inline query) starts from an
`Origin`; admission, the job record and delivery all read it instead of passing chat, message,
user and locale on one by one.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Final

from aiogram.enums import ChatType
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from aiogram.types import CallbackQuery, InlineQuery, Message, User

GROUPS: Final = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


def update_key(bot_token: str, update_id: int) -> str:
    """What names one update across handling it again and across replicas: keyed with the
    bot's token, so nobody who sees update ids (they count up by one) can predict it, and
    through it the job and image ids buttons carry. 32 hex digits."""
    secret = hashlib.sha256(f"imagine-update-key:{bot_token}".encode()).digest()
    return hmac.new(secret, str(update_id).encode(), hashlib.sha256).hexdigest()[:32]


def sender_id(event: object, user: User | None) -> int | None:
    """Who a request counts as, for limits, language, notices and bans. A message posted on
    behalf of a chat counts as that chat: an anonymous group admin as the group, a channel
    as itself. Telegram shows all of them as one shared user each (@GroupAnonymousBot,
    @Channel_Bot), which would give every anonymous admin and every channel one allowance,
    one language, and let a banned user escape the ban by posting as a channel."""
    sender_chat = getattr(event, "sender_chat", None)
    if sender_chat is not None:
        return int(sender_chat.id)
    return user.id if user is not None else None


class Origin(BaseModel):
    """Who asks, in which chat, and the message the answer replies to."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    chat_id: int
    # The message the answer replies to; 0 where there is none (inline mode).
    message_id: int
    group: bool
    locale: str
    # Forum topic of the request, so chat actions show in the right topic.
    thread_id: int | None = None
    # Sent on behalf of the chat itself: an anonymous group admin (Telegram tells bots only
    # that the message comes from the group), who counts as one of its admins.
    as_chat: bool = False
    # The key of the update that asked (`update_key`): one update makes at
    # most one job, however often it is handled. Empty where a request comes from no update.
    update: str = ""
    # The request is the user's own message: editing it redraws the picture answering it.
    editable: bool = False
    # Which edit of that message: the update id of the edit (Telegram numbers updates in the
    # order they happen, so the newest edit has the highest); 0 for the message as sent. For
    # an inline query, its update id: the newest of a user's queries is the one they see.
    revision: int = 0

    @classmethod
    def of_message(cls, message: Message, locale: str, revision: int = 0) -> Origin:
        # A channel or an anonymous admin posting in a group counts as its chat.
        user_id = sender_id(message, message.from_user) or message.chat.id
        return cls(
            user_id=user_id,
            chat_id=message.chat.id,
            message_id=message.message_id,
            group=message.chat.type in GROUPS,
            locale=locale,
            thread_id=message.message_thread_id if message.is_topic_message else None,
            as_chat=message.sender_chat is not None and message.sender_chat.id == message.chat.id,
            editable=True,
            revision=revision,
        )

    @classmethod
    def of_press(cls, query: CallbackQuery, message: Message, locale: str) -> Origin:
        """A button press: the presser asks; the answer replies to the button's message."""
        update = {"user_id": query.from_user.id, "as_chat": False, "editable": False}
        return cls.of_message(message, locale).model_copy(update=update)

    @classmethod
    def of_inline(cls, query: InlineQuery, storage_chat_id: int, locale: str) -> Origin:
        """An inline query: pictures go to a storage chat first, then into the answer."""
        return cls(
            user_id=query.from_user.id,
            chat_id=storage_chat_id,
            message_id=0,
            group=False,
            locale=locale,
        )
