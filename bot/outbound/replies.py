"""Answers nobody needs twice: at most one of a kind per chat per `REFUSAL_INTERVAL_S`.

Commands and hints (/help, /license, "admins only", "send text") cost a message each. A
crowd repeating them in one group, or one person in their private chat, would spend the
chat's send budget and keep the bot's intake waiting for it while everyone else's prompts
queue behind. The first of each kind in an interval is answered; the rest get nothing, as
refusals do (`FairUse.may_tell`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from common.protocol import Keys

Kind = Literal[
    "start",
    "help",
    "license",
    "language",
    "safety",
    "unknown",
    "text_only",
    "caption",
    "admins_only",
    "upscale",
]


class Replies:
    def __init__(self, redis: Redis, keys: Keys, interval_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self._interval_s = interval_s

    async def first(self, chat_id: int, kind: Kind) -> bool:
        """True for the first answer of `kind` to the chat in the interval: send it."""
        key = self._keys.replied(chat_id, kind)
        return bool(await self._redis.set(key, 1, nx=True, ex=self._interval_s))
