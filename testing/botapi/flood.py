"""Telegram's flood control for the fake Bot API, from Telegram's own published rules.

The rules (core.telegram.org/bots/faq, "My bot is hitting limits, how do I avoid this?"):
- in one chat, no more than about one message a second; short bursts over it are allowed,
  then 429 ("We may allow short bursts that go over this limit");
- in a group, no more than 20 messages a minute;
- in all, no more than about 30 messages a second.

How this server reads them, on its own terms (none of this is taken from the bot's pacer):
- a chat is a token bucket: `chat_burst` messages may go at once, one more every
  1 / `chat_per_s` seconds after that;
- a group (whatever the server knows as a group, supergroup or channel) is a log of the last
  60 seconds: a message goes only while fewer than `group_per_min` are in it;
- the bot in all is a log of the last second, `total_per_s` at most.
Each item of an album (`sendMediaGroup`) and each message copied or forwarded is one message.
An album is one burst: it goes once the chat's bucket holds a message's worth for each item
(or is full, for an album bigger than the bucket) and may leave the bucket in debt; in a log it
goes once all its items fit (or the log is empty, for one bigger than the limit). Edits are
messages too. Chat actions, callback and inline answers, deletions and reactions are not. A
refused call counts nothing, and its `retry_after` is the whole seconds until it would go.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .core import DEFAULT_DESCRIPTIONS, JSON, ApiError

if TYPE_CHECKING:
    from .state import BotState

# What Telegram shows in a chat: each of these calls puts (or rewrites) messages there.
ONE_MESSAGE = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAnimation",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "sendDice",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
    }
)
MANY_MESSAGES = {
    "sendMediaGroup": "media",
    "copyMessages": "message_ids",
    "forwardMessages": "message_ids",
}


@dataclass(frozen=True)
class Flood:
    total_per_s: int = 30
    chat_per_s: float = 1.0
    chat_burst: int = 3
    group_per_min: int = 20


def messages_in(method: str, params: JSON) -> int:
    """How many messages Telegram counts for the call: 0 for one that shows none."""
    if method in ONE_MESSAGE:
        return 1
    listed = MANY_MESSAGES.get(method)
    if listed is None:
        return 0
    items = params.get(listed, [])
    return len(json.loads(items) if isinstance(items, str) else items)


@dataclass
class Bucket:
    """Messages one chat may send right now; refills at `rate` a second up to `size`."""

    size: float
    rate: float
    tokens: float
    at: float

    def wait(self, count: int, now: float) -> float:
        self.tokens = min(self.size, self.tokens + (now - self.at) * self.rate)
        self.at = now
        need = min(float(count), self.size)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate

    def take(self, count: int) -> None:
        self.tokens -= count


@dataclass
class Log:
    """When each message of the last `period` seconds went; at most `limit` of them."""

    limit: int
    period: float
    times: collections.deque[float] = field(default_factory=collections.deque)

    def wait(self, count: int, now: float) -> float:
        while self.times and now - self.times[0] >= self.period:
            self.times.popleft()
        if not self.times or len(self.times) + count <= self.limit:
            return 0.0
        # The earliest moment enough of the logged messages have aged out for all to fit.
        leaving = min(len(self.times), len(self.times) + count - self.limit)
        return self.times[leaving - 1] + self.period - now

    def take(self, count: int, now: float) -> None:
        self.times.extend([now] * count)


@dataclass
class FloodGate:
    limits: Flood
    state: BotState
    chats: dict[str, Bucket] = field(default_factory=dict)
    groups: dict[str, Log] = field(default_factory=dict)
    everyone: Log | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, method: str, params: JSON) -> None:
        """Count the call's messages, or raise the 429 Telegram would answer instead."""
        count = messages_in(method, params)
        if not count:
            return
        chat = params.get("chat_id")
        now = time.monotonic()
        with self.lock:
            everyone = self._everyone()
            bucket, group = self._chat(chat, now)
            waits = [everyone.wait(count, now)]
            if bucket is not None:
                waits.append(bucket.wait(count, now))
            if group is not None:
                waits.append(group.wait(count, now))
            wait = max(waits)
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                raise ApiError(
                    429,
                    DEFAULT_DESCRIPTIONS[429].format(retry_after=retry_after),
                    {"retry_after": retry_after},
                )
            everyone.take(count, now)
            if bucket is not None:
                bucket.take(count)
            if group is not None:
                group.take(count, now)

    def _everyone(self) -> Log:
        if self.everyone is None:
            self.everyone = Log(self.limits.total_per_s, 1.0)
        return self.everyone

    def _chat(self, chat: object, now: float) -> tuple[Bucket | None, Log | None]:
        if chat is None:
            return None, None
        name = str(chat)
        if name not in self.chats:
            size = float(self.limits.chat_burst)
            self.chats[name] = Bucket(size, self.limits.chat_per_s, size, now)
        if not self._is_group(name):
            return self.chats[name], None
        group = self.groups.setdefault(name, Log(self.limits.group_per_min, 60.0))
        return self.chats[name], group

    def _is_group(self, name: str) -> bool:
        """As the server knows the chat: by its recorded type, else by Telegram's id ranges
        (users positive, groups and channels negative; a @username is a public chat)."""
        if name.startswith("@"):
            known = self.state.chat_by_username(name[1:])
            return known is None or known.get("type") != "private"
        try:
            chat_id = int(name)
        except ValueError:
            return True
        return self.state.chat(chat_id).get("type") != "private"
