"""An update handled again while the handlers' Redis is away, in a process of its own.

aiogram's routers are module-level and can join one dispatcher per process, so the test of
the rule (`tests/test_inbox.py`) runs this with `python -m testing.rehandling REDIS_URL`: a
real dispatcher whose Redis is nowhere, over an inbox on the Redis at REDIS_URL. It prints,
as JSON, what the bot said and what the inbox still held after each of two prompts: one
handled before, then one handled for the first time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import redis.asyncio as aredis
from aiogram import Bot

from bot.app import build_dispatcher, build_services
from bot.config import DeliverySettings, load_settings
from bot.intake.consumer import Intake, dispatcher_feed
from bot.intake.inbox import Inbox
from testing.jobs import KEYS
from testing.local_session import LocalSession, private_message
from testing.support import TOKEN, free_port

if TYPE_CHECKING:
    pass


async def run(inbox_url: str) -> dict[str, Any]:
    os.environ.update({"BOT_TOKEN": TOKEN, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    session = LocalSession()
    bot = Bot(TOKEN, session=session)
    services = build_services(load_settings(), bot)
    client = aredis.Redis.from_url(inbox_url)
    out: dict[str, Any] = {}
    try:
        await client.flushdb()  # the test's own Redis: start from an empty inbox
        inbox = Inbox(client, KEYS, bot.id, "bot-1")
        feed = dispatcher_feed(build_dispatcher(services), bot)
        intake = Intake(inbox, feed, DeliverySettings())
        await inbox.ensure_group()
        for name, update_id, again in (("again", 77, True), ("first", 78, False)):
            await inbox.record(private_message(update_id, 4000 + update_id, "/imagine a fox"))
            await intake.dispatch(await inbox.read(">", 10, block_ms=None), again=again)
            await intake.drain(10)
            out[name] = {"said": list(session.texts), "pending": await inbox.pending()}
    finally:
        await services.close()
        await client.aclose()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(sys.argv[1]))))
