"""In groups, what the bot says to one member goes to that member alone.

Everything a handler sends in answer to a member's update in a group (a refusal, the queue
position, the licence notice, a hint, "only admins can change settings", the `/settings`
panel) is a message for that member, so it is sent as an ephemeral message (Bot API 10.2):
shown to them only, editable and deletable, while pictures stay public (they are sent by
delivery, outside any handler). The rule lives in one place: `OriginMiddleware` marks the
handler's task with its `Receiver`, and the session middleware `Aside` adds
`ephemeral_message_parameters` to the `sendMessage` calls made to that chat meanwhile.

`EPHEMERAL=auto` falls back to an ordinary message where the server refuses the parameters
with a 400 (a self-hosted Bot API server older than 10.2) or ignores them (the message comes
back public), and remembers that chat for `EPHEMERAL_RETRY_S` in Redis, for every bot
process; `on` always tries (and falls back for that one message), `off` never does. A message
posted on behalf of the chat (an anonymous admin, a channel) has no member to address: it is
answered in the open, as before.
"""

from __future__ import annotations

import contextlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import SendMessage
from aiogram.types import EphemeralMessageParameters, Message
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import TelegramMethod
    from aiogram.methods.base import Response, TelegramType
    from aiogram.types import InlineKeyboardMarkup
    from redis.asyncio import Redis

    from bot.config import FeedbackSettings
    from bot.shared.origin import Origin
    from common.protocol import Keys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receiver:
    """The member of a group chat whom the current handler answers."""

    chat_id: int
    user_id: int


_RECEIVER: ContextVar[Receiver | None] = ContextVar("aside_receiver", default=None)


def receiver(origin: Origin | None) -> Receiver | None:
    """Whom answers to this request go to alone: a group's member who asked as themselves."""
    if origin is None or not origin.group or origin.as_chat or origin.user_id <= 0:
        return None
    return Receiver(origin.chat_id, origin.user_id)


@contextlib.contextmanager
def aside(to: Receiver | None) -> Iterator[None]:
    """Messages sent inside this block (in this task) to `to`'s chat go to `to` alone."""
    token = _RECEIVER.set(to)
    try:
        yield
    finally:
        _RECEIVER.reset(token)


def _about_ephemeral(exc: TelegramBadRequest) -> bool:
    text = exc.message.lower()
    return "ephemeral" in text or "receiver" in text


def _unsupported(exc: TelegramBadRequest) -> bool:
    """The server refuses ephemeral messages as such, not this receiver (one who left)."""
    return "ephemeral" in exc.message.lower()


class Aside(BaseRequestMiddleware):
    """Session middleware: `bot.session.middleware(Aside(...))`, outside the pacer."""

    def __init__(self, redis: Redis, keys: Keys, feedback: FeedbackSettings) -> None:
        self._redis = redis
        self._keys = keys
        self._mode = feedback.ephemeral
        self._retry_s = feedback.ephemeral_retry_s

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        to = _RECEIVER.get()
        personal = self._personal(method, to)
        if to is None or personal is None or await self._refused(to.chat_id):
            return await make_request(bot, method)
        try:
            response = await make_request(bot, personal)
        except TelegramBadRequest as exc:
            if not _about_ephemeral(exc):
                raise
            log.warning("chat %s: ephemeral message refused (%s); sent openly", to.chat_id, exc)
            if _unsupported(exc):
                await self._remember(to.chat_id)
            return await make_request(bot, method)
        # Typed as a Response, but what comes back is the method's result itself.
        sent: Any = getattr(response, "result", response)
        if isinstance(sent, Message) and sent.ephemeral_message_id is None:
            # A server that ignores the parameter delivered it openly: say so once, and stop.
            log.warning("chat %s: the Bot API server ignores ephemeral messages", to.chat_id)
            await self._remember(to.chat_id)
        return response

    def _personal(
        self, method: TelegramMethod[TelegramType], to: Receiver | None
    ) -> TelegramMethod[TelegramType] | None:
        """The call as an ephemeral message for `to`, if it is a message to `to`'s chat."""
        if to is None or self._mode == "off" or not isinstance(method, SendMessage):
            return None
        if method.chat_id != to.chat_id or method.ephemeral_message_parameters is not None:
            return None
        params = EphemeralMessageParameters(receiver_user_id=to.user_id)
        # Narrowed to SendMessage above; the copy is the same method, for the same result.
        return cast(
            "TelegramMethod[TelegramType]",
            method.model_copy(update={"ephemeral_message_parameters": params}),
        )

    async def _refused(self, chat_id: int) -> bool:
        if self._mode != "auto":
            return False
        try:
            return bool(await self._redis.exists(self._keys.no_ephemeral(chat_id)))
        except RedisError:
            return False  # try it: a refusal only costs one more call

    async def _remember(self, chat_id: int) -> None:
        if self._mode != "auto":
            return
        with contextlib.suppress(RedisError):
            await self._redis.set(self._keys.no_ephemeral(chat_id), 1, ex=self._retry_s)


async def edit_in_place(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Redraw a message the bot sent (a panel): an ephemeral one through its own method."""
    if message.ephemeral_message_id is None or message.receiver_user is None:
        await message.edit_text(text, reply_markup=markup)
        return
    if message.bot is None:
        raise RuntimeError("the message is not bound to a bot")
    await message.bot.edit_ephemeral_message_text(
        chat_id=message.chat.id,
        receiver_user_id=message.receiver_user.id,
        ephemeral_message_id=message.ephemeral_message_id,
        text=text,
        reply_markup=markup,
    )
