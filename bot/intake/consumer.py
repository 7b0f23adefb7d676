"""Handling what the inbox holds: each update goes to the dispatcher, then is acknowledged.

- An update leaves the inbox only once its handler has finished (`Inbox.done`). A bot that
  dies mid-handler reads its own unacknowledged entries again when it starts (same
  `CONSUMER_NAME`); entries left by a consumer that is gone are claimed after `CLAIM_IDLE_S`
  by whichever bot process sweeps first. So every recorded update is handled to the end at
  least once; the job record keeps that to one job per update (`bot/requests/jobs.py`).
- An update whose handling raised (handlers do not: `handlers/safety.py` answers their errors;
  this is shutdown or a bug there) stays pending and is tried again later, at most
  `MAX_DELIVERIES` times; one that can never be read is logged and dropped at once.
- Several bot processes can share the inbox: the consumer group gives each entry to one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from aiogram.types import Update
from pydantic import ValidationError
from redis.exceptions import RedisError

from bot import metrics
from bot.intake.inbox import READ_COUNT
from bot.shared.attempt import HANDLED_BEFORE
from bot.shared.running import Running, honour_cancellation
from common.config import REDIS_RETRY_MAX_S

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiogram import Bot, Dispatcher

    from bot.config import DeliverySettings
    from bot.intake.inbox import Entry, Inbox

    Feed = Callable[[dict[str, Any]], Awaitable[object]]

log = logging.getLogger(__name__)

# Updates handled at once; beyond that reading waits, and the rest wait in Redis. Kept well
# under the Redis client's connection pool, which the handlers share.
MAX_HANDLING: Final = 64
MAX_DELIVERIES: Final = 5
# Held updates have their idle time reset this often (or a third of CLAIM_IDLE_S, if less).
KEEP_ALIVE_S: Final = 10.0


def dispatcher_feed(dispatcher: Dispatcher, bot: Bot) -> Feed:
    """Hand a raw update to aiogram, as polling would."""

    async def feed(update: dict[str, Any]) -> object:
        parsed = Update.model_validate(update, context={"bot": bot})
        return await dispatcher.feed_update(bot, parsed)

    return feed


class Intake:
    def __init__(
        self,
        inbox: Inbox,
        feed: Feed,
        settings: DeliverySettings,
    ) -> None:
        self._inbox = inbox
        self._feed = feed
        self._settings = settings
        self._handling = Running(MAX_HANDLING)

    @property
    def busy(self) -> int:
        return self._handling.busy

    async def run(self) -> None:
        """Handle updates until cancelled, waiting out Redis outages."""
        # Updates held here (handled, or waiting for a slot) stay ours well within
        # `claim_idle_s`: no sweep, this process's or another's, hands one to a second handler.
        every_s = min(KEEP_ALIVE_S, self._settings.claim_idle_s / 3)
        async with self._handling.kept_alive(self._keep, every_s):
            await self._handle_all()

    async def _keep(self, held: list[bytes]) -> None:
        try:
            await self._inbox.keep(held)
        except RedisError as exc:
            log.debug("could not keep %d update(s): %s", len(held), exc)

    async def _handle_all(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._inbox.ensure_group()
                # First what this consumer read before a restart and never finished.
                last_id = "0"
                while entries := await self._inbox.read(last_id, READ_COUNT, block_ms=None):
                    await self.dispatch(entries, again=True)
                    last_id = entries[-1][0].decode()
                backoff = 1.0
                while True:
                    honour_cancellation()
                    block = self._settings.read_block_ms
                    entries = await self._inbox.read(">", self._free(), block_ms=block)
                    await self.dispatch(entries)
            except RedisError as exc:
                log.warning("inbox unavailable (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(REDIS_RETRY_MAX_S, backoff * 2)

    async def sweep(self) -> None:
        """Take over updates left pending by consumers that are gone, until cancelled."""
        while True:
            await asyncio.sleep(self._settings.sweep_interval_s)
            try:
                claimed = await self._inbox.claim(int(self._settings.claim_idle_s * 1000))
            except RedisError as exc:
                log.debug("inbox sweep skipped: %s", exc)
                continue
            if claimed:
                log.info("taking over %d pending update(s)", len(claimed))
                await self.dispatch(claimed, again=True)

    def _free(self) -> int:
        return max(1, min(READ_COUNT, self._handling.free))

    async def dispatch(self, entries: list[Entry], again: bool = False) -> None:
        """Start handling entries; ones already held here (being handled, or waiting for a
        slot) are skipped by `Running.start` itself."""
        for entry_id, update in entries:
            await self._handling.start(entry_id, self._handle(entry_id, update, again))

    async def drain(self, grace_s: float) -> None:
        """Let handlers under way finish (for an orderly shutdown); the rest stay pending."""
        await self._handling.wait(grace_s)
        await self._inbox.flush()

    async def _handle(self, entry_id: bytes, update: dict[str, Any], again: bool) -> None:
        name = entry_id.decode()
        try:
            if again and await self._inbox.deliveries(entry_id) > MAX_DELIVERIES:
                log.error("update entry %s failed %d times; dropped", name, MAX_DELIVERIES)
            elif not update:
                log.warning("update entry %s has no update; dropped", name)
            else:
                if not again:  # a retry's wait since its record is a crash's, not the path's
                    metrics.STAGE_INBOX.observe(metrics.since_entry(entry_id))
                started = time.perf_counter()
                token = HANDLED_BEFORE.set(again)
                try:
                    await self._feed(update)
                finally:
                    HANDLED_BEFORE.reset(token)
                metrics.STAGE_HANDLER.observe(time.perf_counter() - started)
        except ValidationError as exc:
            log.error("update entry %s is not a Telegram update (%s); dropped", name, exc)
        except RedisError as exc:
            log.warning("update entry %s left pending, Redis failed: %s", name, exc)
            return
        except Exception:
            log.exception("update entry %s left pending after an unexpected error", name)
            return
        self._inbox.done(entry_id)
