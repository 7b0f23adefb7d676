"""Building the bot, its dispatcher and the long-lived services they share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import redis
import redis.asyncio as aredis
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.handlers import build_router, safety
from bot.services.delivery import ResultDelivery
from bot.services.jobs import JobQueue
from bot.services.recovery import Recovery

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    base_url = settings.telegram.telegram_api_url.rstrip("/")
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(base_url),
        timeout=settings.telegram.request_timeout_s,
    )
    return Bot(
        token=settings.telegram.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def build_dispatcher(settings: Settings, jobs: JobQueue) -> Dispatcher:
    dispatcher = Dispatcher(settings=settings, jobs=jobs)
    dispatcher.include_router(build_router())
    # Last: it answers what nothing else took, and catches what any handler raised.
    dispatcher.include_router(safety.router)
    return dispatcher


# Sends still under way at shutdown get this long to finish; the rest stay pending and are
# sent after the next start.
SHUTDOWN_GRACE_S = 5.0


async def run(settings: Settings) -> None:
    """Poll Telegram and deliver results until stopped."""
    # Timeouts keep a Redis that stops answering from hanging a handler or the delivery loop.
    sync_redis = redis.Redis.from_url(
        settings.redis.redis_url, socket_connect_timeout=5, socket_timeout=10
    )
    async_redis = aredis.Redis.from_url(
        settings.redis.redis_url,
        socket_connect_timeout=5,
        socket_timeout=settings.delivery.read_block_ms / 1000 + 10,
    )
    jobs = JobQueue(sync_redis, settings.queue, settings.delivery.context_ttl_s)
    bot = build_bot(settings)
    dispatcher = build_dispatcher(settings, jobs)
    delivery = ResultDelivery(bot, async_redis, settings)
    recovery = Recovery(async_redis, sync_redis, settings, delivery)
    tasks = [asyncio.create_task(delivery.run()), asyncio.create_task(recovery.run())]
    for task in tasks:
        task.add_done_callback(_log_crash)
    try:
        await dispatcher.start_polling(
            bot,
            polling_timeout=settings.telegram.polling_timeout_s,
            allowed_updates=dispatcher.resolve_used_update_types(),
            close_bot_session=False,
        )
    finally:
        for task in tasks:
            task.cancel()
        # Bounded: shutdown must not hang on a loop that is slow to notice.
        await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(delivery.drain(), SHUTDOWN_GRACE_S)
        await bot.session.close()
        await async_redis.aclose()
        sync_redis.close()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical("background task stopped", exc_info=exc)
