"""The real dispatcher and Bot in the test's own event loop, talking HTTP to the fake Bot API.

`feed` hands one update to `Dispatcher.feed_update` and returns once every handler is done,
so a test can then look at exactly what the bot sent in answer, silence included.
"""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING, Any

import redis
from aiogram.types import Update

from bot.app import Services, build_bot, build_dispatcher, build_services
from bot.config import load_settings
from bot.requests.jobs import JobContext
from testing.faults import is_notice
from testing.jobs import KEYS, stand_in_worker
from testing.support import TOKEN

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from bot.config import Settings
    from testing.botapi import FakeBotAPI

JSON = dict[str, Any]

# aiogram routers are module-level objects that can join only one dispatcher per process.
_dispatcher: Dispatcher | None = None


def dispatcher_for(services: Services) -> Dispatcher:
    """The process's one dispatcher, given this test's settings and services."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = build_dispatcher(services)
    for name, value in vars(services).items():
        _dispatcher[name] = value
    return _dispatcher


class BotUnderTest:
    def __init__(self, botapi: FakeBotAPI, redis_url: str, jobs: Any = None) -> None:
        self.botapi = botapi
        self.settings: Settings = load_settings()
        self.redis = redis.Redis.from_url(redis_url)
        self.bot: Bot = build_bot(self.settings)
        self.services = build_services(self.settings, self.bot)
        if jobs is not None:
            # The one dependency a test may swap: the queue behind the request path.
            self.services.jobs = jobs
            self.services.imagine._jobs = jobs
        self.jobs = self.services.jobs
        self.dispatcher = dispatcher_for(self.services)
        # Prompts are admitted as if a worker were up; tests that need none stop it.
        self.worker_beat = stand_in_worker(self.redis, self.settings.queue)
        self._ids = itertools.count(10_000_000)

    async def feed(self, update: JSON) -> None:
        update = {"update_id": next(self._ids), **copy.deepcopy(update)}
        await self.dispatcher.feed_update(
            self.bot, Update.model_validate(update, context={"bot": self.bot})
        )

    async def message(self, message: JSON) -> None:
        await self.feed({"message": message})

    def answers(self, chat_id: int) -> list[str]:
        """What the user saw in the chat, in order: message texts, and "photo" for photos."""
        seen = []
        for call in self.botapi.sent(chat_id=chat_id):
            if is_notice(call):
                continue
            if call.method == "sendMessage":
                seen.append(call.result["text"])
            elif call.method == "sendPhoto":
                seen.append("photo")
        return seen

    def jobs_for(self, chat_id: int) -> list[JobContext]:
        records = (self.redis.get(key) for key in self.redis.keys(KEYS.job_context("*")))
        contexts = [JobContext.model_validate_json(r) for r in records if r is not None]
        return [c for c in contexts if c.chat_id == chat_id]

    async def close(self) -> None:
        self.worker_beat.stop()
        await self.bot.session.close()
        await self.services.close()
        self.redis.close()


def environment(botapi: FakeBotAPI, redis_url: str) -> dict[str, str]:
    return {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": botapi.base_url, "REDIS_URL": redis_url}
