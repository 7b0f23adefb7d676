"""Building the bot, its dispatcher and the long-lived services they share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import redis
import redis.asyncio as aredis
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot import metrics
from bot.community.chat_rules import ChatAdmins, ChatRules
from bot.community.chat_settings import ChatSettingsStore
from bot.community.control import Blocklist, Community
from bot.delivery.screening import Screening
from bot.handlers import build_router, safety
from bot.handlers.inline_filters import run_magic_filters_inline
from bot.i18n import UserLocaleMiddleware, build_i18n
from bot.middlewares import AccessMiddleware, OriginMiddleware
from bot.outbound.aside import Aside
from bot.outbound.pacing import Pacer
from bot.outbound.replies import Replies
from bot.outbound.send_budget import SendBudget
from bot.play.buttons import PlayService
from bot.play.edit_records import EditRecords
from bot.play.edits import EditService
from bot.play.inline import InlineService
from bot.requests.admission import Admission, PromptRules
from bot.requests.fairuse import FairUse
from bot.requests.images import ImageStore
from bot.requests.imagine import ImagineService
from bot.requests.jobs import JobQueue
from bot.requests.status import StatusBoard
from bot.requests.workers import Workers
from bot.shared.styles import load_styles
from common.protocol import Keys

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

    from bot.config import Settings
    from bot.requests.jobs import JobContext
    from common.protocol import Result

log = logging.getLogger(__name__)

# Connections of the bot's Redis client for short commands (the stream reads have their own):
# well above what its handlers and deliveries can have in flight at once (a pool that waits
# for a free connection instead costs a lock per command, halving the bot's throughput).
REDIS_POOL_SIZE: Final = 512


def build_bot(settings: Settings) -> Bot:
    base_url = settings.telegram.telegram_api_url.rstrip("/")
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(base_url),
        timeout=settings.telegram.request_timeout_s,
    )
    session.middleware(metrics.TelegramErrorCounter())
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
    chat_settings: ChatSettingsStore
    chat_rules: ChatRules
    screening: Screening
    edit_records: EditRecords
    edits: EditService
    workers: Workers
    replies: Replies

    async def job_done(self, context: JobContext, result: Result) -> None:
        await self.fair_use.release(context.origin.user_id, context.job_id)
        if result.status == "error":
            await self.fair_use.refund(context.origin, context.job_id)
        await self.status.answered(context, result)
        await self.community.count_result(result.status)

    async def close(self) -> None:
        await self.redis.aclose()
        self.sync_redis.close()


def build_services(settings: Settings, bot: Bot) -> Services:
    url = settings.redis.redis_url
    # Timeouts keep a Redis that stops answering from hanging a handler.
    auth = settings.redis.client_options()
    sync_redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10, **auth)
    # Handlers (MAX_HANDLING at once, some with two reads in flight) and deliveries share
    # this pool; redis-py's default of 100 connections fails a command past that at once.
    pool = aredis.ConnectionPool.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        socket_connect_timeout=5,
        socket_timeout=10,
        **auth,
    )
    async_redis = aredis.Redis.from_pool(pool)
    keys = Keys(settings.queue)
    # Every send and edit of this bot waits its turn in the budget all bot processes share.
    budget = SendBudget(async_redis, keys, settings.pacing)
    # Outside the pacer: a refused ephemeral message and its open fallback each wait a turn.
    bot.session.middleware(Aside(async_redis, keys, settings.feedback))
    bot.session.middleware(Pacer(budget, settings.pacing.pace_answer_wait_s))
    styles = load_styles(settings.prompts.styles_file)
    chat_settings = ChatSettingsStore(
        async_redis, keys, settings.safety, settings.limits, settings.prompts, styles
    )
    jobs = JobQueue(
        async_redis, sync_redis, keys, settings.queue, settings.delivery, settings.play
    )
    replies = Replies(async_redis, keys, settings.limits.refusal_interval_s)
    chat_rules = ChatRules(chat_settings, ChatAdmins(bot, settings.limits.admin_ids), replies)
    workers = Workers(async_redis, keys, settings.queue)
    fair_use = FairUse(async_redis, keys, settings.limits, settings.queue, chat_rules, workers)
    community = Community(async_redis, keys)
    blocklist = Blocklist.from_file(settings.access.blocklist_file)
    rules = PromptRules(settings.prompts, blocklist, styles)
    admission = Admission(async_redis, keys, rules, fair_use, community, chat_settings)
    i18n = build_i18n(settings.feedback.default_locale)
    images = ImageStore(async_redis, keys, settings.play)
    status = StatusBoard(bot, async_redis, i18n, settings.feedback, keys)
    imagine = ImagineService(bot, admission, jobs, images, status, settings.play)
    edit_records = EditRecords(async_redis, keys, settings.edits)
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
        play=PlayService(imagine, images, settings.play),
        inline=InlineService(async_redis, keys, imagine, settings.play),
        chat_settings=chat_settings,
        chat_rules=chat_rules,
        screening=Screening(chat_settings, fair_use),
        edit_records=edit_records,
        edits=EditService(edit_records, imagine, settings.edits),
        workers=workers,
        replies=replies,
    )


def build_dispatcher(services: Services) -> Dispatcher:
    # No conversation state anywhere: without FSM every update skips a storage lookup.
    dispatcher = Dispatcher(disable_fsm=True, **vars(services))
    i18n_middleware = UserLocaleMiddleware(services.i18n)
    access = AccessMiddleware()
    origin = OriginMiddleware()
    # Locale first, so even the allow-list refusal speaks the user's language.
    observers = (
        dispatcher.message,
        dispatcher.edited_message,
        dispatcher.callback_query,
        dispatcher.inline_query,
    )
    for observer in observers:
        observer.outer_middleware(i18n_middleware)
        observer.outer_middleware(access)
        observer.middleware(origin)
    dispatcher.include_router(build_router())
    # Last: it answers what nothing else took, and catches what any handler raised.
    dispatcher.include_router(safety.router)
    run_magic_filters_inline(dispatcher)
    return dispatcher
