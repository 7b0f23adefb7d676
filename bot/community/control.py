"""Community controls kept in Redis: bans, pause, per-user preferences, counters, blocklist."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from common.protocol import CHOICES_KEPT_S, TOLD_KEPT_S

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from common.protocol import Keys


class Blocklist:
    """Words or phrases (whole words, any case) and `re:` patterns a prompt may not contain."""

    def __init__(self, entries: list[str]) -> None:
        patterns = []
        for entry in (e.strip() for e in entries):
            if not entry or entry.startswith("#"):
                continue
            if entry.startswith("re:"):
                patterns.append(entry[3:])
            else:
                patterns.append(rf"(?<!\w){re.escape(entry)}(?!\w)")
        self._regex = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None

    @classmethod
    def from_file(cls, path: str) -> Blocklist:
        if not path:
            return cls([])
        return cls(Path(path).read_text(encoding="utf-8").splitlines())

    def blocks(self, prompt: str) -> bool:
        return bool(self._regex and self._regex.search(prompt))


# Bans, the pause flag and language choices are read on every update but change rarely:
# each bot process keeps what it read this long. A change made through this process applies
# at once; one made through another bot process within this many seconds.
LOCAL_CACHE_S: Final = 5.0
_MISSING: Final = object()


class Community:
    """Shared state behind the admin commands and per-user memory."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._cache: dict[tuple[object, ...], tuple[float, object]] = {}

    def _cached(self, *key: object) -> object:
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return _MISSING
        return hit[1]

    def _remember(self, value: object, *key: object) -> None:
        if len(self._cache) > 100_000:  # bounded: a flood of new users cannot grow it forever
            self._cache.clear()
        self._cache[key] = (time.monotonic() + LOCAL_CACHE_S, value)

    async def ban(self, user_id: int) -> None:
        await self._redis.sadd(self._keys.banned, user_id)
        self._remember(True, "banned", user_id)

    async def unban(self, user_id: int) -> bool:
        self._remember(False, "banned", user_id)
        return bool(await self._redis.srem(self._keys.banned, user_id))

    async def is_banned(self, user_id: int) -> bool:
        cached = self._cached("banned", user_id)
        if cached is _MISSING:
            return (await self._learn(user_id))[0]
        return bool(cached)

    async def _learn(self, user_id: int) -> tuple[bool, str | None]:
        """Whether the user is banned and the language they chose, read together: every
        update asks both, one after the other."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sismember(self._keys.banned, str(user_id))
            pipe.get(self._keys.locale(user_id))
            banned, value = await pipe.execute()
        self._remember(bool(banned), "banned", user_id)
        locale = value.decode() if isinstance(value, bytes) else (value or None)
        self._remember(locale, "locale", user_id)
        return bool(banned), locale

    async def set_paused(self, paused: bool) -> None:
        if paused:
            await self._redis.set(self._keys.paused, 1)
        else:
            await self._redis.delete(self._keys.paused)
        self._remember(paused, "paused")

    async def is_paused(self) -> bool:
        cached = self._cached("paused")
        if cached is not _MISSING:
            return bool(cached)
        paused = bool(await self._redis.exists(self._keys.paused))
        self._remember(paused, "paused")
        return paused

    async def locale(self, user_id: int) -> str | None:
        cached = self._cached("locale", user_id)
        if cached is _MISSING:
            return (await self._learn(user_id))[1]
        return cached if isinstance(cached, str) else None

    async def set_locale(self, user_id: int, locale: str) -> None:
        await self._redis.set(self._keys.locale(user_id), locale, ex=CHOICES_KEPT_S)
        self._remember(locale, "locale", user_id)

    async def told_once(self, chat_id: int) -> bool:
        """True the first time only: chats outside the allow-list hear from the bot once."""
        return bool(await self._redis.set(self._keys.told(chat_id), 1, nx=True, ex=TOLD_KEPT_S))

    async def count_result(self, status: str) -> None:
        minute = int(time.time() // 60)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(self._keys.stats(status, minute))
            pipe.expire(self._keys.stats(status, minute), 3600)
            await pipe.execute()

    async def counts_last_minute(self) -> tuple[int, int]:
        """(images, failures) in the last full minute and the current one, per minute."""
        minute = int(time.time() // 60)
        keys = [self._keys.stats(s, m) for s in ("ok", "error") for m in (minute - 1, minute)]
        ok_prev, ok_now, err_prev, err_now = (int(v or 0) for v in await self._redis.mget(keys))
        return max(ok_prev, ok_now), max(err_prev, err_now)
