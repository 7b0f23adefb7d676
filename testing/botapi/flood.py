"""Telegram-like flood control for the fake Bot API: 429 with `retry_after` past the limits.

Limits (sliding windows over what the server received): `total_per_s` messages a second from
the bot in all, `chat_burst` messages per `chat_burst / chat_per_s` seconds in one chat (about
one a second, short bursts pass), `group_per_min` a minute in one group, supergroup or channel.
An album counts one message per item; one bigger than a window passes once it is empty. Chat
actions, callback and inline answers and deletions are not messages. A refused call counts
nothing, as on Telegram.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from dataclasses import dataclass, field

from .core import DEFAULT_DESCRIPTIONS, JSON, ApiError


@dataclass(frozen=True)
class Flood:
    total_per_s: int = 30
    chat_per_s: float = 1.0
    chat_burst: int = 3
    group_per_min: int = 20


def message_cost(method: str, params: JSON) -> int:
    """How many messages a call counts as (0: not a message)."""
    if method == "sendMediaGroup":
        media = params.get("media", [])
        return len(json.loads(media) if isinstance(media, str) else media)
    if method in ("copyMessages", "forwardMessages"):
        ids = params.get("message_ids", [])
        return len(json.loads(ids) if isinstance(ids, str) else ids)
    if method == "sendChatAction":
        return 0
    if method.startswith(("send", "editMessage")) or method in ("copyMessage", "forwardMessage"):
        return 1
    return 0


@dataclass
class FloodGate:
    limits: Flood
    windows: dict[str, collections.deque[float]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, method: str, params: JSON) -> None:
        """Count the call, or raise the 429 Telegram would answer instead."""
        cost = message_cost(method, params)
        if not cost:
            return
        now = time.monotonic()
        scopes = self._scopes(params.get("chat_id"))
        with self.lock:
            wait = max(
                self._wait(scope, limit, period, cost, now) for scope, limit, period in scopes
            )
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                raise ApiError(
                    429,
                    DEFAULT_DESCRIPTIONS[429].format(retry_after=retry_after),
                    {"retry_after": retry_after},
                )
            for scope, _, _ in scopes:
                self.windows[scope].extend([now] * cost)

    def _scopes(self, chat: object) -> list[tuple[str, int, float]]:
        limits = self.limits
        scopes = [("all", limits.total_per_s, 1.0)]
        if chat is None:
            return scopes
        burst = limits.chat_burst
        scopes.append((f"chat:{chat}", burst, burst / limits.chat_per_s))
        is_group = not str(chat).lstrip("-").isdigit() or int(str(chat)) < 0
        if is_group:
            scopes.append((f"group:{chat}", limits.group_per_min, 60.0))
        return scopes

    def _wait(self, scope: str, limit: int, period: float, cost: int, now: float) -> float:
        window = self.windows[scope]
        while window and window[0] <= now - period:
            window.popleft()
        need = min(cost, limit)
        if len(window) + need <= limit:
            return 0.0
        return window[len(window) + need - limit - 1] + period - now
