"""Webhook mode: Telegram POSTs each update; it is answered 200 once the update is recorded.

aiogram's aiohttp request handler checks `X-Telegram-Bot-Api-Secret-Token` (401 without the
right one, nothing acted on). Instead of running the handlers before answering, the update is
appended to the same inbox polling fills, and the inbox's consumers run it: a replica that
dies after the 200 loses nothing (another takes the entry over), and Telegram retrying a POST
doubles nothing (the inbox is idempotent on `update_id`). Several bot processes behind one load
balancer share the inbox.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.exceptions import TelegramBadRequest
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from bot.config import WebhookSettings

log = logging.getLogger(__name__)


class WebhookRefused(Exception):
    """Telegram would not take the webhook: the start cannot go on (one line says why)."""


class Recorder(Protocol):
    async def record(self, update: dict[str, Any]) -> None: ...


class RecordingHandler(SimpleRequestHandler):
    """Answers Telegram only once the update is durably recorded."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, secret: str, inbox: Recorder) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret)
        self._inbox = inbox

    async def close(self) -> None:
        """Nothing: the bot's session outlives the web server, and the bot closes it last."""

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = await request.json(loads=json.loads)
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        try:
            await self._inbox.record(update)
        except RedisError as exc:
            # Not recorded, so not confirmed: Telegram keeps the update and tries again.
            log.warning("update %d not recorded, Redis failed: %s", update["update_id"], exc)
            return web.Response(status=503, text="try again")
        return web.json_response({})


async def serve(
    settings: WebhookSettings, dispatcher: Dispatcher, bot: Bot, inbox: Recorder
) -> web.AppRunner:
    """Listen on WEBHOOK_HOST:WEBHOOK_PORT at the URL's path, then tell Telegram to call it."""
    app = web.Application()
    secret = settings.webhook_secret.get_secret_value()
    RecordingHandler(dispatcher, bot, secret, inbox).register(app, path=settings.path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
    try:
        await bot.set_webhook(
            settings.webhook_url,
            secret_token=secret,
            allowed_updates=dispatcher.resolve_used_update_types(),
            drop_pending_updates=False,
        )
    except TelegramBadRequest as exc:
        await runner.cleanup()
        raise WebhookRefused(
            f"Telegram refused the webhook ({exc.message}): WEBHOOK_URL must be a public "
            "HTTPS address Telegram can reach, WEBHOOK_SECRET 1-256 of A-Z a-z 0-9 _ -"
        ) from None
    log.info(
        "webhook mode: serving %s on %s:%d", settings.path, settings.webhook_host,
        settings.webhook_port,
    )  # fmt: skip
    return runner
