"""Bot ingest benchmark: updates per second through the real dispatcher, on one core.

Updates go through `bot.app.build_dispatcher` with `Dispatcher.feed_update`, 100 at a time as
one getUpdates page would bring them, handled concurrently as in polling. The Bot's session
answers every API call locally (no network), so the figure is the bot's own cost: filters,
handlers, prompt cleaning, any rate limiting the dispatcher has, and the RQ enqueue into a real
Redis (a separate process, as in production).

    python -m bench.ingest --updates 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.types import Message, Update, User

from bench.report import append, table
from bot.app import build_dispatcher, build_services
from bot.config import load_settings
from testing.support import TOKEN, RedisServer

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from aiogram.methods import TelegramMethod


class LocalSession(BaseSession):
    """Answers every Bot API call at once: True, or a minimal sent message."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - BaseSession's signature
    ) -> Any:
        self.calls += 1
        if method.__returning__ is bool:
            return True
        if method.__returning__ is User:
            return User(id=1, is_bot=True, first_name="Bench", username="BenchBot")
        chat_id = getattr(method, "chat_id", 1)
        return Message.model_validate(
            {"message_id": 1, "date": 0, "chat": {"id": chat_id, "type": "private"}}
        )

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - BaseSession's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        # Nothing in the measured scenarios downloads a file.
        raise RuntimeError("the benchmark session serves no files")
        yield b""

    async def close(self) -> None:
        return None


def _update(update_id: int, user: int, text: str) -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "chat": {"id": user, "type": "private"},
                "from": {"id": user, "is_bot": False, "first_name": "Spam"},
                "text": text,
            },
        }
    )


SCENARIOS = {
    # One user repeating /imagine as fast as the client allows: what a rate limiter is for.
    "spam: 1 user, /imagine": (1, "/imagine a fox in the snow"),
    # Many users, plain prompts in private chats.
    "100 users, plain text": (100, "a lighthouse on a cliff at sunset"),
    # Commands the bot only answers with text.
    "100 users, /help": (100, "/help"),
}


async def run(updates: int, redis_url: str) -> list[list[object]]:
    os.environ.update({"BOT_TOKEN": TOKEN, "REDIS_URL": redis_url})
    settings = load_settings()
    client = redis.Redis.from_url(redis_url)
    session = LocalSession()
    bot = Bot(TOKEN, session=session)
    services = build_services(settings, bot)
    dispatcher = build_dispatcher(services)
    rows: list[list[object]] = []
    for name, (users, text) in SCENARIOS.items():
        batch = [_update(i, 1 + i % users, text) for i in range(updates)]
        for warm in batch[:100]:
            await dispatcher.feed_update(bot, warm)
        client.flushdb()
        session.calls = 0
        started = time.perf_counter()
        for page in range(0, updates, 100):
            await asyncio.gather(
                *(dispatcher.feed_update(bot, u) for u in batch[page : page + 100])
            )
        elapsed = time.perf_counter() - started
        queued = client.llen(f"rq:queue:{settings.queue.queue_name}")
        rows.append(
            [name, updates, f"{updates / elapsed:,.0f}", f"{session.calls / updates:.2f}", queued]
        )
        print(table(HEADER, rows[-1:]), flush=True)
        client.flushdb()
    client.close()
    await services.close()
    return rows


HEADER = ["scenario", "updates", "updates/s", "API calls per update", "jobs enqueued"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            rows = asyncio.run(run(args.updates, server.url))
        finally:
            server.stop()
    body = table(HEADER, rows) + "\n" + NOTES
    if args.no_append:
        print(body)
    else:
        append("Bot ingest: dispatcher throughput, one core", "bench.ingest", body)


NOTES = """
The bot process is pinned to one core; Redis runs as its own process. `jobs enqueued` shows
what got through to the queue: with per-user rate limiting in the dispatcher, spam mostly
stops before Redis and the same run measures the limiter's cost.
"""

if __name__ == "__main__":
    main()
