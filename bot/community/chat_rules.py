"""Who runs a chat, and what its settings let a request do there.

A group's admins are whoever Telegram says they are (`getChatMember`: creator or
administrator), asked at most once a minute per person; an admin posting anonymously as the
group counts too. Nothing the client sends is taken for it. The bot's own ADMIN_IDS count in
every chat, and in a private chat the user runs their own chat.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot import texts

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.community.chat_settings import ChatSettings, ChatSettingsStore
    from bot.outbound.replies import Replies
    from bot.shared.origin import Origin

ADMIN_CACHE_S: Final = 60.0
_RUNS_CHAT: Final = frozenset({ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR})


class AdminsUnknown(Exception):
    """Telegram could not say who runs the chat just now (429, 5xx, network), and nothing
    is known from before: the request is answered "temporarily unavailable"."""


class ChatAdmins:
    def __init__(self, bot: Bot, admin_ids: frozenset[int]) -> None:
        self._bot = bot
        self._admin_ids = admin_ids
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}

    def is_operator(self, user_id: int) -> bool:
        return user_id in self._admin_ids

    async def is_admin(self, origin: Origin) -> bool:
        """Whether the person behind `origin` may change the settings of its chat."""
        if self.is_operator(origin.user_id) or not origin.group or origin.as_chat:
            return True
        key = (origin.chat_id, origin.user_id)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        try:
            member = await self._bot.get_chat_member(origin.chat_id, origin.user_id)
            runs = member.status in _RUNS_CHAT
        except (TelegramBadRequest, TelegramForbiddenError):
            runs = False  # not a member, or the bot was removed: either way not an admin here
        except (
            TelegramRetryAfter,
            TelegramServerError,
            TelegramNetworkError,
            TimeoutError,
        ) as exc:
            # Passing: what Telegram said last time, however old, beats no answer.
            if hit is not None:
                return hit[1]
            raise AdminsUnknown(str(exc)) from exc
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + ADMIN_CACHE_S, runs)
        return runs


@dataclass(frozen=True, slots=True)
class ChatVerdict:
    """A chat's word on a request: why not, or the group rate to hold it to."""

    refusal: Literal["drawing_off", "admins_only", ""] = ""
    group_rate: int = 0
    # Pictures per 24 h; 0: no cap.
    group_daily: int = 0


class ChatRules:
    """A chat's own settings as a step of fair use: drawing off, admins only, its rate."""

    def __init__(self, store: ChatSettingsStore, admins: ChatAdmins, replies: Replies) -> None:
        self.store = store
        self.admins = admins
        # What a chat is told about its settings ("admins only", usage) is told once a while.
        self.replies = replies

    async def check(self, origin: Origin) -> ChatVerdict:
        if not origin.group:
            return ChatVerdict()
        settings = await self.store.get(origin.chat_id)
        # Off is off for the group's own admins too; the bot's operators draw anywhere.
        if not settings.drawing and not self.admins.is_operator(origin.user_id):
            return ChatVerdict(refusal="drawing_off")
        if settings.admins_only and not await self.admins.is_admin(origin):
            return ChatVerdict(refusal="admins_only")
        return ChatVerdict(
            group_rate=self.store.rate(settings), group_daily=self.store.daily(settings)
        )

    async def configure(
        self, origin: Origin, field: str, value: str
    ) -> tuple[ChatSettings, ChatSettings] | str:
        """Change one setting of the origin's chat if its sender may: the settings before and
        after, or the text saying why not."""
        if not await self.admins.is_admin(origin):
            return texts.SETTINGS_ADMINS_ONLY
        before = await self.store.get(origin.chat_id)
        after = await self.store.change(origin.chat_id, field, value)
        return texts.SETTINGS_NOT_ALLOWED if after is None else (before, after)
