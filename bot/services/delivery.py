"""Reading finished jobs from the results stream and sending them to the right chat."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final

from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, ReplyParameters
from redis.exceptions import RedisError, ResponseError

from bot import texts
from bot.services.captions import build_caption
from bot.services.jobs import JobContext
from common.protocol import Keys, Result

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiogram import Bot
    from redis.asyncio import Redis

    from bot.config import Settings

log = logging.getLogger(__name__)

GROUP: Final = "bot"
SEND_ATTEMPTS: Final = 5
MAX_BACKOFF_S: Final = 30.0
RedisEntries = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


class ResultDelivery:
    """Consumer of the results stream; an entry is acknowledged once Telegram has it."""

    def __init__(
        self,
        bot: Bot,
        redis: Redis,
        settings: Settings,
        *,
        translate: Callable[[str, str], str] = lambda text, _locale: text,
        on_done: Callable[[JobContext, Result], Awaitable[None]] | None = None,
    ) -> None:
        self._bot = bot
        self._translate = translate
        self._on_done = on_done
        self._redis = redis
        self._keys = Keys(settings.queue)
        self._delivery = settings.delivery
        self._footer = settings.prompts.caption_footer

    async def run(self) -> None:
        """Deliver results until cancelled; Redis outages are waited out with backoff."""
        backoff = 0.5
        backlog = True
        while True:
            try:
                await self._ensure_group()
                # Entries this consumer read before a restart but never acknowledged first.
                while backlog and await self._read_and_deliver("0", block_ms=None):
                    pass
                backlog = False
                while True:
                    await self._read_and_deliver(">", block_ms=self._delivery.read_block_ms)
                    backoff = 0.5
            except RedisError as exc:
                log.warning("results stream unavailable (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                backlog = True

    async def _ensure_group(self) -> None:
        try:
            # From id 0: results written before the bot first started are delivered too.
            await self._redis.xgroup_create(self._keys.results, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_and_deliver(self, last_id: str, block_ms: int | None) -> int:
        # RESP2 reply: [(stream, [(entry_id, {field: value})])], or None on timeout.
        response: RedisEntries | None = await self._redis.xreadgroup(  # type: ignore[assignment]
            GROUP,
            self._delivery.consumer_name,
            {self._keys.results: last_id},
            count=self._delivery.read_count,
            block=block_ms,
        )
        entries = [entry for _, stream_entries in response or [] for entry in stream_entries]
        await asyncio.gather(*(self._deliver(entry_id, fields) for entry_id, fields in entries))
        return len(entries)

    async def _deliver(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        result = Result.from_fields(fields)
        raw_context = await self._redis.get(self._keys.job_context(result.job_id))
        if raw_context is None:
            log.warning("result for unknown or expired job %s dropped", result.job_id)
        else:
            context = JobContext.model_validate_json(raw_context)
            await self._send(context, result)
            if self._on_done is not None:
                # Frees the user's slot and removes the status message, whatever the outcome.
                await self._on_done(context, result)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._keys.results, GROUP, entry_id)
            pipe.xdel(self._keys.results, entry_id)
            pipe.delete(self._keys.job_context(result.job_id))
            await pipe.execute()

    async def _send(self, context: JobContext, result: Result) -> None:
        reply = ReplyParameters(message_id=context.message_id, allow_sending_without_reply=True)
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                if result.status == "ok":
                    await self._bot.send_photo(
                        context.chat_id,
                        BufferedInputFile(result.image, filename=f"{context.seed}.jpg"),
                        caption=build_caption(context.prompt, context.seed, self._footer),
                        reply_parameters=reply,
                    )
                else:
                    text = (
                        texts.GENERATION_TIMEOUT
                        if result.error == "timeout"
                        else texts.GENERATION_FAILED
                    )
                    await self._bot.send_message(
                        context.chat_id,
                        self._translate(text, context.locale),
                        reply_parameters=reply,
                    )
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
            except (TelegramServerError, TelegramNetworkError) as exc:
                log.warning(
                    "send for job %s failed (%s), attempt %d", context.job_id, exc, attempt
                )
                await asyncio.sleep(min(MAX_BACKOFF_S, 0.5 * 2**attempt))
            except (TelegramForbiddenError, TelegramBadRequest) as exc:
                log.warning("job %s not delivered: %s", context.job_id, exc.message)
                return
            else:
                log.info(
                    "delivered job=%s status=%s generation_ms=%.1f total_ms=%.1f",
                    context.job_id,
                    result.status,
                    result.generation_ms,
                    (time.time() - context.enqueued_at) * 1000,
                )
                return
        log.error("job %s not delivered after %d attempts", context.job_id, SEND_ATTEMPTS)
