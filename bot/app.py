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

from bot.handlers import build_router
from bot.services.delivery import ResultDelivery
from bot.services.jobs import JobQueue

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
    return dispatcher


async def run(settings: Settings) -> None:
    """Poll Telegram and deliver results until stopped."""
    sync_redis = redis.Redis.from_url(settings.redis.redis_url)
    async_redis = aredis.Redis.from_url(settings.redis.redis_url)
    jobs = JobQueue(sync_redis, settings.queue, settings.delivery.context_ttl_s)
    bot = build_bot(settings)
    dispatcher = build_dispatcher(settings, jobs)
    delivery = asyncio.create_task(ResultDelivery(bot, async_redis, settings).run())
    try:
        await dispatcher.start_polling(
            bot,
            polling_timeout=settings.telegram.polling_timeout_s,
            allowed_updates=dispatcher.resolve_used_update_types(),
            close_bot_session=False,
        )
    finally:
        delivery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await delivery
        await bot.session.close()
        await async_redis.aclose()
        sync_redis.close()
