"""The inbox: every update is recorded in a Redis Stream before Telegram hears it arrived.

- `record` appends an update once, whoever offers it and however often: a marker per update
  id (`seen:{bot}:{update}`, kept as long as Telegram keeps updates) makes a second offer a
  no-op, in the same Lua call as the append (one call per page of updates). Long polling
  confirms a page to Telegram only after recording it; a webhook answers 200 only after it.
- The consumer group `bot` reads it (`consumer.py`); an entry is acknowledged and deleted only
  once its handler has finished, in batches: acknowledgements that arrive while one is being
  written go together in the next.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import RedisError, ResponseError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from common.protocol import Keys

log = logging.getLogger(__name__)

GROUP: Final = "bot"
# Telegram keeps an unconfirmed update for 24 hours; it cannot come again after that.
SEEN_TTL_S: Final = 86_400
# One getUpdates page.
READ_COUNT: Final = 100
Entry = tuple[bytes, dict[str, Any]]
RawEntry = tuple[bytes, dict[bytes, bytes] | None]

# Unhandled updates the inbox may hold (a few KB each): past it, recording fails like Redis
# being away, so polling does not confirm the page and a webhook answers 503: Telegram keeps
# the updates (24 hours) and offers them again once the bot has caught up.
INBOX_MAX: Final = 20_000

# KEYS: the inbox, then one marker per update. ARGV: the markers' lifetime, the cap, then
# the updates.
_RECORD: Final = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  return redis.error_reply('INBOXFULL the inbox holds ' .. ARGV[2] .. ' unhandled updates')
end
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], 1, 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'update', ARGV[i + 1])
  end
end
return 0
"""


class Inbox:
    def __init__(self, redis: Redis, keys: Keys, bot_id: int, consumer: str) -> None:
        self._redis = redis
        self._keys = keys
        self._bot_id = bot_id
        self.consumer = consumer
        self._record = redis.register_script(_RECORD)
        self.max_entries = INBOX_MAX
        self._done: list[bytes] = []
        self._flushing: asyncio.Task[None] | None = None

    async def record(self, update: dict[str, Any]) -> None:
        """Keep one update (a webhook's entry point); a second offer of it changes nothing."""
        await self.record_many([update])

    async def record_many(self, updates: list[dict[str, Any]]) -> None:
        """Keep a page of updates in one atomic call; raises RedisError if Redis did not."""
        if not updates:
            return
        markers = [self._keys.inbox_seen(f"{self._bot_id}:{u['update_id']}") for u in updates]
        bodies = [json.dumps(update, separators=(",", ":")) for update in updates]
        await self._record(
            keys=[self._keys.inbox, *markers], args=[SEEN_TTL_S, self.max_entries, *bodies]
        )

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._keys.inbox, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, last_id: str, count: int, block_ms: int | None) -> list[Entry]:
        """`last_id` "0": this consumer's entries read before but never acknowledged."""
        # RESP2 reply: [(stream, [(entry_id, {field: value})])], or None on timeout.
        response: list[tuple[bytes, list[RawEntry]]] | None = await self._redis.xreadgroup(  # type: ignore[assignment]
            GROUP, self.consumer, {self._keys.inbox: last_id}, count=count, block=block_ms
        )
        return [_entry(raw) for _, entries in response or [] for raw in entries]

    async def claim(self, idle_ms: int) -> list[Entry]:
        """Entries pending longer than `idle_ms` on any consumer (one that died), now ours."""
        claimed: list[Entry] = []
        start = "0-0"
        while True:
            reply = await self._redis.xautoclaim(
                self._keys.inbox, GROUP, self.consumer, idle_ms, start_id=start, count=READ_COUNT
            )
            claimed += [_entry(raw) for raw in reply[1]]
            start = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            if start == "0-0":
                return claimed

    async def keep(self, entry_ids: list[bytes]) -> None:
        """Reset the entries' idle time: they are being handled, no sweep may take them."""
        ids: list[Any] = list(entry_ids)  # redis-py types the id list too narrowly
        await self._redis.xclaim(self._keys.inbox, GROUP, self.consumer, 0, ids, justid=True)

    async def deliveries(self, entry_id: bytes) -> int:
        """How often the entry was handed to a consumer, this time included."""
        pending = await self._redis.xpending_range(
            self._keys.inbox, GROUP, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 0

    def done(self, entry_id: bytes) -> None:
        """The entry's handler finished: acknowledge it soon, together with others."""
        self._done.append(entry_id)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self.flush())

    async def flush(self) -> None:
        """Acknowledge and delete every finished entry; on a Redis error they stay pending
        and are handled again later, which the job record's update marker makes harmless."""
        while self._done:
            ids, self._done = self._done, []
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xack(self._keys.inbox, GROUP, *ids)
                    pipe.xdel(self._keys.inbox, *ids)
                    await pipe.execute()
            except RedisError as exc:
                log.warning("%d update(s) not acknowledged, Redis failed: %s", len(ids), exc)

    async def pending(self) -> int:
        """Updates recorded and not yet handled to the end (for tests and benchmarks)."""
        return int(await self._redis.xlen(self._keys.inbox))


def _entry(raw: RawEntry) -> Entry:
    entry_id, fields = raw
    body = (fields or {}).get(b"update")
    # An entry deleted meanwhile comes back from the pending list without fields.
    return entry_id, json.loads(body) if body else {}
