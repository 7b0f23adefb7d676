"""Fair use, stored in Redis so several bot processes share it.

A group's own settings (`bot/community/chat_rules.py`) come first: drawing turned off, admins
only, and the group's own rate, which replaces GROUP_RATE (never above it).

Rates are moving windows in Redis (`windows.py`): a request refused by one of them is
counted in none. The in-flight cap is a sorted set
of job ids per user: a slot is freed when the job's result is delivered, whatever it was, and
an entry older than the job timeout is ignored, so a lost job can never lock a user out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from limits import RateLimitItem, parse

from bot.requests.windows import Slot, Window, Windows

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.community.chat_rules import ChatRules
    from bot.config import LimitSettings
    from bot.requests.workers import Workers
    from bot.shared.origin import Origin
    from common.config import QueueSettings
    from common.protocol import Keys

Reason = Literal[
    "user_rate",
    "group_rate",
    "user_daily",
    "group_daily",
    "inflight",
    "queue_full",
    "no_worker",
    "drawing_off",
    "admins_only",
]
# Refusals about the whole chat, not the member who asked: a group hears them once, openly.
EVERYONE: Final = frozenset(
    {"group_rate", "group_daily", "queue_full", "no_worker", "drawing_off"}
)
# The daily caps are rolling: a picture counts for 24 h from when it was asked for.
DAY_S: Final = 86_400

# A user just refused is refused again in this process without asking Redis for this long:
# spam then costs almost nothing. It is shorter than any refusal interval, so whoever is
# refused here would not have been told anything anyway; Redis decides again after it.
SHORTCUT_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Reason
    retry_after_s: int
    # The cap that was reached, for the daily ones.
    limit: int = 0


class FairUse:
    """Decides whether a request may be queued, and frees slots when jobs end."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        settings: LimitSettings,
        queue: QueueSettings,
        chats: ChatRules | None = None,
        workers: Workers | None = None,
    ) -> None:
        self._redis = redis
        # None: workers are not asked about (tests of the limits alone).
        self._workers = workers
        # None: no chat has settings of its own (GROUP_RATE everywhere).
        self._chats = chats
        self._settings = settings
        self._keys = keys
        self._max_age_s = queue.job_timeout_s * 3
        self._windows = Windows(redis)
        self._user_rate = parse(settings.user_rate)
        self._refused_until: dict[int, float] = {}
        self._group_rate = parse(settings.group_rate)

    def recently_refused(self, user_id: int) -> bool:
        return self._refused_until.get(user_id, 0.0) > time.monotonic()

    def note_refusal(self, user_id: int, refusal: Refusal) -> None:
        if len(self._refused_until) > 100_000:
            self._refused_until.clear()
        until = time.monotonic() + min(SHORTCUT_S, refusal.retry_after_s)
        self._refused_until[user_id] = until

    def is_admin(self, user_id: int) -> bool:
        return user_id in self._settings.admin_ids

    async def admit(
        self, origin: Origin, job_id: str, *, queue_depth: int, undelivered: int = 0
    ) -> Refusal | None:
        """Check every limit; on success the job holds an in-flight slot and rates are charged."""
        user_id, chat_id, group = origin.user_id, origin.chat_id, origin.group
        # Nothing would ever draw it: say so now, for admins too, rather than queue in vain.
        if self._workers is not None and not await self._workers.alive():
            return Refusal("no_worker", 0)
        # Admins too: a result trimmed from the stream unsent would never reach anyone.
        if undelivered >= self._settings.results_backlog_max:
            return Refusal("queue_full", 60)
        if self.is_admin(user_id):
            await self.hold(user_id, job_id)
            return None
        if queue_depth >= self._settings.queue_max_depth:
            return Refusal("queue_full", 60)
        group_rate, group_daily = self._group_rate, self._settings.group_daily
        if group and self._chats is not None:
            chat = await self._chats.check(origin)
            if chat.refusal:
                return Refusal(chat.refusal, 0)
            group_rate = self._group_rate_of(chat.group_rate)
            group_daily = chat.group_daily
        # The slot and every window are checked and charged in one step (a test, then a hit,
        # would let a crowd writing at once all pass the test before anyone is counted), and
        # a request one of them refuses is counted in none. The group is named first: when
        # both are full, the answer is about the group.
        windows: list[tuple[Reason, Window]] = []
        if group:
            windows.append(("group_rate", self._window(group_rate, "group", chat_id)))
            if group_daily:
                windows.append(("group_daily", self._daily("group", chat_id, group_daily)))
        windows.append(("user_rate", self._window(self._user_rate, "user", user_id)))
        if self._settings.user_daily:
            windows.append(("user_daily", self._daily("user", user_id, self._settings.user_daily)))
        slot = Slot(self._keys.inflight(user_id), self._settings.user_inflight, self._max_age_s)
        full = await self._windows.charge(job_id, slot, [window for _, window in windows])
        if full is None:
            return None
        if full.window is None:
            return Refusal("inflight", 5)
        reason = next(reason for reason, window in windows if window is full.window)
        return Refusal(reason, full.retry_after_s, full.window.limit)

    def _daily(self, kind: str, ident: int, cap: int) -> Window:
        return Window(self._keys.daily_window(kind, ident), cap, DAY_S)

    async def refund(self, origin: Origin, job_id: str) -> None:
        """A job that failed (or was never queued) gives its place in the daily caps back."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self._keys.daily_window("user", origin.user_id), job_id)
            if origin.group:
                pipe.zrem(self._keys.daily_window("group", origin.chat_id), job_id)
            await pipe.execute()

    def _window(self, rate: RateLimitItem, kind: str, ident: int) -> Window:
        return Window(self._keys.rate_window(kind, ident), rate.amount, rate.get_expiry())

    def _group_rate_of(self, amount: int) -> RateLimitItem:
        """GROUP_RATE, or a group's own lower amount over the same window."""
        if not amount or amount == self._group_rate.amount:
            return self._group_rate
        return type(self._group_rate)(amount, self._group_rate.multiples)

    async def hold(self, user_id: int, job_id: str) -> int:
        """Count the job against the user; returns the user's live in-flight count."""
        key = self._keys.inflight(user_id)
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - self._max_age_s)
            pipe.zadd(key, {job_id: now})
            pipe.zcard(key)
            pipe.expire(key, self._max_age_s)
            results = await pipe.execute()
        return int(results[2])

    async def release(self, user_id: int, job_id: str) -> None:
        await self._redis.zrem(self._keys.inflight(user_id), job_id)

    async def may_tell(self, origin: Origin, everyone: bool = False) -> bool:
        """At most one refusal per user per interval, so spam never turns into the bot
        spamming a chat; one that concerns a whole group (`everyone`: it is busy, drawing is
        off) is told openly, and at most once per chat per interval, so a crowd refused
        together reads one answer. A member's own refusal goes to them alone."""
        interval = self._settings.refusal_interval_s
        user_key = self._keys.refused(origin.user_id)
        if not await self._redis.set(user_key, 1, nx=True, ex=interval):
            return False
        if not origin.group or not everyone:
            return True
        chat_key = self._keys.refused_chat(origin.chat_id)
        return bool(await self._redis.set(chat_key, 1, nx=True, ex=interval))
