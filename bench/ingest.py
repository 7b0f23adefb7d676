"""Bot ingest benchmark: updates per second through the real dispatcher, on one core.

Updates go through `bot.app.build_dispatcher`, 100 at a time as one getUpdates page would
bring them, handled concurrently as in polling, two ways: `direct` hands each page straight to
the dispatcher (what aiogram's polling did), `inbox` is the bot's path now: each page recorded
in the Redis Stream inbox, read by the consumer group, handled, and acknowledged. The Bot's
session answers every API call locally (no network), so the figure is the bot's own cost:
filters, handlers, prompt cleaning, rate limiting, the pacer, the RQ enqueue into a real Redis
(a separate process, as in production), and on the `inbox` path the recording and reading.

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
import redis.asyncio as aredis
from aiogram import Bot

from bench.report import append, table
from bot.app import build_dispatcher, build_services
from bot.config import load_settings
from bot.intake.consumer import Intake, dispatcher_feed
from bot.intake.inbox import Inbox
from testing.jobs import stand_in_worker
from testing.local_session import LocalSession, private_message
from testing.support import TOKEN, RedisServer

if TYPE_CHECKING:
    pass


SCENARIOS = {
    # One user repeating /imagine as fast as the client allows: what a rate limiter is for.
    "spam: 1 user, /imagine": (1, "/imagine a fox in the snow"),
    # Many users, plain prompts in private chats: most are refused by USER_RATE.
    "100 users, plain text": (100, "a lighthouse on a cliff at sunset"),
    # Every prompt from a user of its own: each one admitted and queued (and its user told
    # the licence notice once).
    "every prompt a new user": (0, "/imagine a lighthouse on a cliff at sunset"),
    # A command the bot only answers with text, each from a chat of its own (a chat asking
    # again within REFUSAL_INTERVAL_S is not answered twice).
    "/help, every one a new chat": (0, "/help"),
}
# The pacer's budget is raised out of the way: the figure is the bot's CPU cost (the pacer's
# Redis call included), not Telegram's limits, which no benchmark should wait for.
# The queue's cap too: nothing draws the prompts, and `every prompt a new user` queues them all.
UNPACED = {
    "PACE_TOTAL_PER_S": "10000000",
    "PACE_CHAT_PER_S": "100000",
    "PACE_CHAT_BURST": "1000",
    "QUEUE_MAX_DEPTH": "1000000",
}


class Bench:
    """One bot (dispatcher, services, inbox) fed either directly or through the inbox."""

    def __init__(self, redis_url: str) -> None:
        os.environ.update({"BOT_TOKEN": TOKEN, "REDIS_URL": redis_url, **UNPACED})
        self.settings = load_settings()
        self.client = redis.Redis.from_url(redis_url)
        self.session = LocalSession()
        self.bot = Bot(TOKEN, session=self.session)
        self.services = build_services(self.settings, self.bot)
        self.dispatcher = build_dispatcher(self.services)
        self.feed = dispatcher_feed(self.dispatcher, self.bot)
        # As in the bot, the inbox has a client (and connection pool) of its own.
        self.stream = aredis.Redis.from_url(redis_url)
        self.inbox = Inbox(self.stream, self.services.keys, self.bot.id, "bench")
        # Prompts are admitted as behind a live worker; none draws them.
        self.worker_beat = stand_in_worker(self.client, self.settings.queue)

    async def direct(self, pages: list[list[dict[str, Any]]]) -> None:
        """As `Dispatcher.start_polling` did: each page handled concurrently, nothing kept."""
        for page in pages:
            await asyncio.gather(*(self.feed(update) for update in page))

    async def through_inbox(self, pages: list[list[dict[str, Any]]]) -> None:
        """As the bot does now: each page recorded, then read, handled and acknowledged."""
        intake = Intake(self.inbox, self.feed, self.settings.delivery)
        reading = asyncio.create_task(intake.run())
        try:
            for page in pages:
                await self.inbox.record_many(page)
            while await self.inbox.pending():  # noqa: ASYNC110 - Redis has no event to await
                await asyncio.sleep(0.002)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    async def measure(self, path: str, batch: list[dict[str, Any]]) -> list[object]:
        run = self.direct if path == "direct" else self.through_inbox
        pages = [batch[page : page + 100] for page in range(0, len(batch), 100)]
        await run(pages[:1])  # warm-up, then forgotten
        self.client.flushdb()
        self.worker_beat.beat()  # the flush took the stand-in worker's beat
        self.session.calls = 0
        started = time.perf_counter()
        await run(pages)
        elapsed = time.perf_counter() - started
        queued = self.client.llen(f"rq:queue:{self.settings.queue.queue_name}")
        self.client.flushdb()
        self.worker_beat.beat()
        calls = self.session.calls / len(batch)
        return [path, len(batch), f"{len(batch) / elapsed:,.0f}", f"{calls:.2f}", queued]


async def run(updates: int, redis_url: str) -> list[list[object]]:
    bench = Bench(redis_url)
    rows: list[list[object]] = []
    for name, (users, text) in SCENARIOS.items():
        for path in ("direct", "inbox"):
            # New users for each path: a user's first prompt costs what their later ones do
            # not (the licence notice), so both paths meet the same mix.
            first = 1_000_000 if path == "direct" else 2_000_000
            batch = [
                private_message(i, 1 + i % users if users else first + i, text)
                for i in range(1, updates + 1)
            ]
            rows.append([name, *await bench.measure(path, batch)])
            print(table(HEADER, rows[-1:]), flush=True)
    bench.worker_beat.stop()
    bench.client.close()
    await bench.stream.aclose()
    await bench.services.close()
    return rows


HEADER = ["scenario", "path", "updates", "updates/s", "API calls per update", "jobs enqueued"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        # Redis first, so it keeps every core: only the bot is held to one.
        server = RedisServer(Path(tmp)).start()
        if hasattr(os, "sched_setaffinity"):
            cores = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {min(cores)})  # one core, as the target says
            if len(cores) > 1 and server.proc is not None:
                os.sched_setaffinity(server.proc.pid, cores - {min(cores)})
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
The bot process is pinned to one core; Redis runs as its own process on the other cores.
`jobs enqueued` shows what got through to the queue: spam and the 100 users' plain text
mostly stop at USER_RATE, so those rows measure the limiter's cost; in `every prompt a new
user` each prompt is admitted and queued, and its user is sent the licence notice. `/help`
comes from a new chat each time, since a chat asking again within REFUSAL_INTERVAL_S is not
answered twice. `inbox` minus `direct` is what crash-safe intake costs: per page one Lua call
recording it and one stream read, per update a task and a share of one batched
acknowledgement. The pacer's budget and QUEUE_MAX_DEPTH are raised out of the way (the
pacer's Redis call per batch of sends stays); Telegram itself lets a bot send about 30
messages a second.
"""

if __name__ == "__main__":
    main()
