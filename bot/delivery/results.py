"""Reading finished jobs from the results stream and sending them to the right chat.

Guarantees, and how:
- nothing lost: an entry is acknowledged only once Telegram took the answer (or will never
  take it, e.g. the user blocked the bot). Entries read but not acknowledged, by this bot
  before a restart or by a consumer that is gone, are read again (`run`, `recovery.py`).
- nothing doubled: a result is routed by its job id to the chat recorded at enqueue time, and
  one job gets one answer: the first entry to claim `answer:{job}` sends, any other entry for
  the same job (a retried job whose first worker was not dead after all) is dropped.
  The one window left is a crash between Telegram's "ok" and the acknowledgement, a single
  Redis round trip: the result is then sent again after the restart (at least once).
- Redis going away stops delivery, never the bot: it resumes with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final

from pydantic import ValidationError
from redis.exceptions import RedisError, ResponseError

from bot import metrics
from bot.delivery.sending import KEEP_ALIVE_S
from bot.requests.jobs import JobContext
from bot.shared.outcome import Outcome
from bot.shared.running import Running, honour_cancellation
from common.config import REDIS_RETRY_MAX_S
from common.protocol import Result

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis

    from bot.config import DeliverySettings
    from bot.delivery.sending import ResultSender
    from common.protocol import Keys

log = logging.getLogger(__name__)

GROUP: Final = "bot"
# Results being sent at once; a slow chat (429) must not hold up everyone else's.
MAX_IN_FLIGHT: Final = 64
Entry = tuple[bytes, dict[bytes, bytes]]
RedisEntries = list[tuple[bytes, list[Entry]]]

# KEYS: the job's record, its answer marker. ARGV: the result's entry id, the marker's
# lifetime. The record and, when there is one, the entry that answers the job (this one,
# unless another result of the job came first): one round trip before sending.
_CLAIM: Final = """
local context = redis.call('GET', KEYS[1])
if not context then
  return {false, false}
end
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2])
return {context, redis.call('GET', KEYS[2])}
"""


class ResultDelivery:
    """Consumer of the results stream; an entry is acknowledged once Telegram has it."""

    def __init__(
        self,
        sender: ResultSender,
        redis: Redis,
        keys: Keys,
        settings: DeliverySettings,
        on_done: Callable[[JobContext, Result], Awaitable[None]] | None = None,
    ) -> None:
        self._redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._keys = keys
        self._delivery = settings
        self._sender = sender
        self._on_done = on_done
        self._in_flight = Running(MAX_IN_FLIGHT)
        # Sent (or given up on), but Redis failed before the acknowledgement: acknowledge,
        # finish (free the slot, remove the status), never send again.
        self._sent_unacknowledged: dict[bytes, tuple[JobContext, Result, Outcome]] = {}
        # Set when a delivery failed on Redis: the loop reads this consumer's pending entries.
        self._retry_pending = False

    @property
    def consumer(self) -> str:
        return self._delivery.consumer_name

    @property
    def busy(self) -> int:
        return self._in_flight.busy

    async def run(self) -> None:
        """Deliver results until cancelled, waiting out Redis outages."""
        # Entries held here (sending, or waiting for a slot) stay ours well within
        # `claim_idle_s`: no other bot process's sweep takes one meanwhile.
        every_s = min(KEEP_ALIVE_S, self._delivery.claim_idle_s / 3)
        async with self._in_flight.kept_alive(self._keep_all, every_s):
            await self._deliver_all()

    async def _deliver_all(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._ensure_group()
                honour_cancellation()
                # Entries read before a restart (or an outage) but never acknowledged first.
                await self._catch_up()
                backoff = 1.0
                while True:
                    entries = await self._read(">", block_ms=self._delivery.read_block_ms)
                    honour_cancellation()
                    await self.dispatch(entries)
                    if self._retry_pending:
                        await self._catch_up()
            except RedisError as exc:
                log.warning("results stream unavailable (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(REDIS_RETRY_MAX_S, backoff * 2)

    async def _catch_up(self) -> None:
        """Deliver this consumer's entries read before but never acknowledged."""
        self._retry_pending = False
        last_id = "0"
        while entries := await self._read(last_id, block_ms=None):
            honour_cancellation()
            await self.dispatch(entries)
            last_id = entries[-1][0].decode()
        honour_cancellation()

    async def _ensure_group(self) -> None:
        try:
            # From id 0: results written before the bot first started are delivered too.
            await self._redis.xgroup_create(self._keys.results, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read(self, last_id: str, block_ms: int | None) -> list[Entry]:
        # Never read more than can be started, so a stuck chat slows reading, not memory.
        count = max(1, min(self._delivery.read_count, self._in_flight.free))
        # RESP2 reply: [(stream, [(entry_id, {field: value})])], or None on timeout.
        response: RedisEntries | None = await self._redis.xreadgroup(  # type: ignore[assignment]
            GROUP, self.consumer, {self._keys.results: last_id}, count=count, block=block_ms
        )
        return [entry for _, stream_entries in response or [] for entry in stream_entries]

    async def dispatch(self, entries: list[Entry]) -> None:
        """Start delivering entries in the background; ones already held here (on their way,
        or waiting for a slot) are skipped by `Running.start` itself."""
        for entry_id, fields in entries:
            if fields:  # deleted entries come back from the PEL without fields
                await self._in_flight.start(entry_id, self._handle(entry_id, fields))

    async def drain(self) -> None:
        """Wait for the deliveries under way (for an orderly shutdown)."""
        await self._in_flight.wait()

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            await self._deliver(entry_id, fields)
        except RedisError as exc:
            # Tried again after the next read (within READ_BLOCK_MS), not only by the sweep
            # after CLAIM_IDLE_S: Redis hiccups are short, and the user is waiting.
            log.warning("entry %s left pending, Redis failed: %s", entry_id.decode(), exc)
            self._retry_pending = True
        except Exception:
            # Left pending: recovery offers it again later, so log loudly but keep it.
            log.exception("entry %s left pending after an unexpected error", entry_id.decode())

    async def _deliver(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        if (sent := self._sent_unacknowledged.get(entry_id)) is not None:
            await self._acknowledge(entry_id, sent[0].job_id)
            del self._sent_unacknowledged[entry_id]
            return await self._done(*sent)
        metrics.STAGE_RESULTS.observe(metrics.since_entry(entry_id))
        result = Result.from_fields(fields)
        job_id = result.job_id
        answer_key = self._keys.answer(job_id)
        raw_context, owner = await self._claim(
            keys=[self._keys.job_context(job_id), answer_key],
            args=[entry_id, self._delivery.context_ttl_s],
        )
        if raw_context is None:
            log.warning("result for unknown, expired or answered job %s dropped", job_id)
            return await self._acknowledge(entry_id, job_id)
        try:
            context = JobContext.model_validate_json(raw_context)
        except ValidationError:
            log.error("unreadable record of job %s; result dropped", job_id)
            return await self._acknowledge(entry_id, job_id)
        if context.job_id != job_id:
            log.error("record of job %s names job %s; result dropped", job_id, context.job_id)
            return await self._acknowledge(entry_id, job_id)
        if owner != entry_id:
            log.warning("second result for job %s dropped", job_id)
            return await self._acknowledge(entry_id, job_id, keep_answer=True)
        outcome = await self._sender.send(context, result, lambda: self._keep(entry_id))
        metrics.count_delivery(context, result, outcome)
        if outcome is Outcome.LATER:
            # Idle from now on: the next round starts `claim_idle_s` after this one ended.
            return await self._keep(entry_id)
        try:
            await self._acknowledge(entry_id, job_id)
        except RedisError:
            self._sent_unacknowledged[entry_id] = (context, result, outcome)
            raise
        return await self._done(context, result, outcome)

    async def _done(self, context: JobContext, result: Result, outcome: Outcome) -> None:
        if self._on_done is not None:
            # Frees the user's slot and removes the status message, sent or dropped alike.
            await self._on_done(context, result)
        if outcome is Outcome.SENT:
            log.info(
                "delivered job=%s status=%s generation_ms=%.1f total_ms=%.1f",
                context.job_id,
                result.status,
                result.generation_ms,
                (time.time() - context.enqueued_at) * 1000,
            )

    async def _acknowledge(self, entry_id: bytes, job_id: str, keep_answer: bool = False) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._keys.results, GROUP, entry_id)
            pipe.xdel(self._keys.results, entry_id)
            if not keep_answer:
                # With the record gone, any later result for this job is dropped as unknown.
                pipe.delete(self._keys.job_context(job_id), self._keys.answer(job_id))
            await pipe.execute()

    async def _keep_all(self, held: list[bytes]) -> None:
        await self._keep(*held)

    async def _keep(self, *entry_ids: bytes) -> None:
        """Reset the entry's idle time: it is being worked on, no other consumer may take it."""
        try:
            await self._redis.xclaim(
                self._keys.results, GROUP, self.consumer, 0, list(entry_ids), justid=True
            )
        except RedisError as exc:
            log.debug("could not keep %d entries: %s", len(entry_ids), exc)
