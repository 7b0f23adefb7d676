"""Building the bot, its dispatcher and the long-lived services they share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import redis.asyncio as aredis
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.handlers import build_router, safety
from bot.handlers.inline_filters import run_magic_filters_inline
from bot.i18n import UserLocaleMiddleware, build_i18n
from bot.middlewares import AccessMiddleware, OriginMiddleware
from bot.services.admission import Admission
from bot.services.captions import Wording
from bot.services.community import Blocklist, Community
from bot.services.delivery import ResultDelivery
from bot.services.fairuse import FairUse
from bot.services.images import ImageStore
from bot.services.imagine import ImagineService
from bot.services.inbox import Inbox
from bot.services.inline import InlineService
from bot.services.intake import Intake, dispatcher_feed
from bot.services.jobs import JobQueue
from bot.services.pacing import Pacer
from bot.services.play import PlayService
from bot.services.polling import Poller
from bot.services.recovery import Recovery
from bot.services.send_budget import SendBudget
from bot.services.status import StatusBoard
from common.protocol import Keys

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiogram.utils.i18n import I18n

    from bot.config import Settings
    from bot.services.jobs import JobContext
    from common.protocol import Result

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


@dataclass
class Services:
    """Long-lived objects, built once and handed to the dispatcher."""

    settings: Settings
    sync_redis: redis.Redis
    redis: aredis.Redis
    keys: Keys
    i18n: I18n
    jobs: JobQueue
    fair_use: FairUse
    community: Community
    imagine: ImagineService
    status: StatusBoard
    play: PlayService
    inline: InlineService

    async def job_done(self, context: JobContext, result: Result) -> None:
        await self.fair_use.release(context.origin.user_id, context.job_id)
        await self.status.clear(context.job_id)
        await self.community.count_result(result.status)

    async def close(self) -> None:
        await self.redis.aclose()
        self.sync_redis.close()


def build_services(settings: Settings, bot: Bot) -> Services:
    url = settings.redis.redis_url
    # Timeouts keep a Redis that stops answering from hanging a handler.
    sync_redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    async_redis = aredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    keys = Keys(settings.queue)
    # Every send and edit of this bot waits its turn in the budget all bot processes share.
    bot.session.middleware(Pacer(SendBudget(async_redis, keys, settings.pacing)))
    jobs = JobQueue(sync_redis, keys, settings.queue, settings.delivery, settings.play)
    fair_use = FairUse(async_redis, keys, settings.redis, settings.limits, settings.queue)
    community = Community(async_redis, keys)
    blocklist = Blocklist.from_file(settings.access.blocklist_file)
    admission = Admission(async_redis, keys, settings.prompts, fair_use, community, blocklist)
    i18n = build_i18n(settings.feedback.default_locale)
    images = ImageStore(async_redis, keys, settings.play)
    status = StatusBoard(bot, async_redis, i18n, settings.feedback, keys)
    imagine = ImagineService(bot, admission, jobs, images, status, settings.play)
    return Services(
        settings=settings,
        sync_redis=sync_redis,
        redis=async_redis,
        keys=keys,
        i18n=i18n,
        jobs=jobs,
        fair_use=fair_use,
        community=community,
        imagine=imagine,
        status=status,
        play=PlayService(imagine, images),
        inline=InlineService(async_redis, keys, imagine, settings.play),
    )


def build_dispatcher(services: Services) -> Dispatcher:
    # No conversation state anywhere: without FSM every update skips a storage lookup.
    dispatcher = Dispatcher(disable_fsm=True, **vars(services))
    i18n_middleware = UserLocaleMiddleware(services.i18n)
    access = AccessMiddleware()
    origin = OriginMiddleware()
    # Locale first, so even the allow-list refusal speaks the user's language.
    for observer in (dispatcher.message, dispatcher.callback_query, dispatcher.inline_query):
        observer.outer_middleware(i18n_middleware)
        observer.outer_middleware(access)
        observer.middleware(origin)
    dispatcher.include_router(build_router())
    # Last: it answers what nothing else took, and catches what any handler raised.
    dispatcher.include_router(safety.router)
    run_magic_filters_inline(dispatcher)
    return dispatcher


async def supervise(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Keep a background loop alive: a crash is logged and the loop restarted, never lost."""
    while True:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s loop crashed; restarting in 1 s", name)
            await asyncio.sleep(1)


def _spawn(loops: dict[str, Callable[[], Awaitable[None]]]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(supervise(name, loop)) for name, loop in loops.items()]


# Sends still under way at shutdown get this long to finish; the rest stay pending and are
# sent after the next start.
SHUTDOWN_GRACE_S = 5.0


async def run(settings: Settings) -> None:
    """Poll Telegram, handle updates and deliver results until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    bot = build_bot(settings)
    services = build_services(settings, bot)
    dispatcher = build_dispatcher(services)
    # Blocking stream reads get a client of their own, apart from the short commands; its
    # timeout leaves room for the block, and keeps a silent Redis from hanging delivery.
    stream_redis = aredis.Redis.from_url(
        settings.redis.redis_url,
        socket_connect_timeout=5,
        socket_timeout=settings.delivery.read_block_ms / 1000 + 10,
    )
    delivery = ResultDelivery(
        bot,
        stream_redis,
        services.keys,
        settings.delivery,
        Wording(settings.prompts.caption_footer, services.i18n),
        on_done=services.job_done,
    )
    recovery = Recovery(
        services.redis,
        services.sync_redis,
        services.keys,
        settings.queue,
        settings.delivery,
        delivery,
    )
    inbox = Inbox(stream_redis, services.keys, bot.id, settings.delivery.consumer_name)
    intake = Intake(inbox, dispatcher_feed(dispatcher, bot), settings.delivery)
    poller = Poller(bot, inbox, settings.telegram, dispatcher.resolve_used_update_types())
    intake_tasks: list[asyncio.Task[None]] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        me = await bot.me()  # a wrong token or an unreachable Bot API stops the start here
        intake_tasks += _spawn(
            {"polling": poller.run, "intake": intake.run, "intake sweep": intake.sweep}
        )
        tasks += _spawn(
            {"delivery": delivery.run, "recovery": recovery.run, "status": services.status.run}
        )
        log.info("polling as @%s (id %d)", me.username, me.id)
        await stop.wait()
    finally:
        for task in intake_tasks:
            task.cancel()
        if intake_tasks:
            await asyncio.wait(intake_tasks, timeout=SHUTDOWN_GRACE_S)
        # Updates being handled get the grace period; the rest stay in the inbox for later.
        await intake.drain(SHUTDOWN_GRACE_S)
        for task in tasks:
            task.cancel()
        # Bounded: shutdown must not hang on a loop that is slow to notice.
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(delivery.drain(), SHUTDOWN_GRACE_S)
        await bot.session.close()
        await stream_redis.aclose()
        await services.close()
