"""Running the bot: updates in (polling or webhook) through the inbox, results out, until
SIGINT or SIGTERM; then an orderly stop that leaves nothing half-done behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

import redis.asyncio as aredis

from bot import metrics
from bot.app import build_bot, build_dispatcher, build_services
from bot.delivery.captions import Wording
from bot.delivery.recovery import Recovery
from bot.delivery.results import ResultDelivery
from bot.delivery.sending import ResultSender
from bot.intake import webhook
from bot.intake.consumer import Intake, dispatcher_feed
from bot.intake.inbox import Inbox
from bot.intake.polling import Poller
from bot.lease import ConsumerLease, LeaseHeld
from common.redis_auth import warn_if_open

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiogram import Bot, Dispatcher
    from aiohttp import web

    from bot.config import Settings

log = logging.getLogger(__name__)


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


async def _receive(
    settings: Settings, dispatcher: Dispatcher, bot: Bot, inbox: Inbox
) -> tuple[list[asyncio.Task[None]], web.AppRunner | None]:
    """Updates into the inbox: Telegram POSTs them (webhook mode), or the bot polls."""
    if settings.webhook.webhook_url:
        return [], await webhook.serve(settings.webhook, dispatcher, bot, inbox)
    await bot.delete_webhook(drop_pending_updates=False)  # getUpdates fails while one is set
    allowed = dispatcher.resolve_used_update_types()
    poller = Poller(bot, inbox, settings.telegram, allowed, dispatcher_feed(dispatcher, bot))
    return _spawn({"polling": poller.run}), None


# Sends still under way at shutdown get this long to finish; the rest stay pending and are
# sent after the next start.
SHUTDOWN_GRACE_S = 5.0


async def run(settings: Settings) -> None:
    """Poll Telegram, handle updates and deliver results until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    warn_if_open(settings.redis, log)
    bot = build_bot(settings)
    services = build_services(settings, bot)
    dispatcher = build_dispatcher(services)
    # Blocking stream reads get a client of their own, apart from the short commands; its
    # timeout leaves room for the block, and keeps a silent Redis from hanging delivery.
    stream_redis = aredis.Redis.from_url(
        settings.redis.redis_url,
        socket_connect_timeout=5,
        socket_timeout=settings.delivery.read_block_ms / 1000 + 10,
        **settings.redis.client_options(),
    )
    wording = Wording(settings.prompts.caption_footer, services.i18n)
    sender = ResultSender(
        bot,
        wording,
        settings.delivery.send_attempts,
        services.edit_records,
        services.screening,
        settings.play.storage_chat_id,
    )
    delivery = ResultDelivery(
        sender,
        stream_redis,
        services.keys,
        settings.delivery,
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
    lease = ConsumerLease(
        services.redis,
        services.keys,
        settings.delivery.consumer_name,
        settings.delivery.consumer_lease_s,
    )
    intake = Intake(inbox, dispatcher_feed(dispatcher, bot), settings.delivery)
    metrics.SLOTS_BUSY.labels("intake").set_function(lambda: intake.busy)
    metrics.SLOTS_BUSY.labels("delivery").set_function(lambda: delivery.busy)
    intake_tasks: list[asyncio.Task[None]] = []
    tasks: list[asyncio.Task[None]] = []
    # Filled once the bot is known to Telegram; health reads the list as it is then.
    loops: list[asyncio.Task[None]] = []
    streams = {"inbox": services.keys.inbox, "results": services.keys.results}
    health = metrics.BotHealth(
        services.redis, services.keys.queue, loops, services.workers, streams
    )
    endpoint = await metrics.serve(settings.metrics, health)
    hook: web.AppRunner | None = None
    try:
        me = await bot.me()  # a wrong token or an unreachable Bot API stops the start here
        # Updates are recorded (or answered "unavailable") from the start; they are read
        # from the inbox, as results are, only under a consumer name this process holds.
        receiving, hook = await _receive(settings, dispatcher, bot, inbox)
        intake_tasks += receiving
        log.info("running as @%s (id %d)", me.username, me.id)
        loops += intake_tasks
        if await lease.acquire(stop):
            tasks.append(asyncio.create_task(lease.keep(stop)))
            reading = _spawn({"intake": intake.run, "intake sweep": intake.sweep})
            intake_tasks += reading
            tasks += _spawn(
                {"delivery": delivery.run, "recovery": recovery.run, "status": services.status.run}
            )
            loops += [*reading, *tasks]
        await stop.wait()
        if lease.lost:
            raise LeaseHeld(lease.name)
    finally:
        await endpoint.close()
        if hook is not None:
            await hook.cleanup()  # no new updates; those recorded stay in the inbox
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
        await lease.release()
        await bot.session.close()
        await stream_redis.aclose()
        await services.close()
