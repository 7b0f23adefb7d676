"""Jobs as the bot records them, for tests and benchmarks that queue work without Telegram."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

import redis.asyncio as aredis

from bot.config import DeliverySettings, PlaySettings
from bot.requests.jobs import JobContext, JobQueue, Submitted, new_job_id, new_seed
from bot.shared.origin import Origin
from common.config import QueueSettings
from common.protocol import Keys, Result
from worker.heartbeat import Heartbeat

if TYPE_CHECKING:
    from redis import Redis

    from bot.requests.jobs import Action

KEYS = Keys(QueueSettings())


def published(client: Redis) -> list[Result]:
    """Every result in the results stream, oldest first."""
    entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", client.xrange(KEYS.results))
    return [Result.from_fields(fields) for _, fields in entries]


def job_queue(client: Redis) -> JobQueue:
    """A queue on `client`'s Redis; its async client is bound to the event loop it first
    runs in, so make one per `asyncio.run`."""
    kwargs = client.connection_pool.connection_kwargs
    named = ("host", "port", "db", "username", "password")
    async_client = aredis.Redis(**{name: kwargs[name] for name in named if name in kwargs})
    return JobQueue(
        async_client, client, KEYS, QueueSettings(), DeliverySettings(), PlaySettings()
    )


def submit_now(client: Redis, context: JobContext) -> Submitted:
    """Queue a job from synchronous code, inside a running event loop or not."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(job_queue(client).submit(context))).result()


def job_context(
    prompt: str,
    chat_id: int = 1,
    message_id: int = 2,
    seed: int | None = None,
    action: Action = "photo",
    count: int = 1,
) -> JobContext:
    """A job asked for by user `chat_id` in their private chat."""
    origin = Origin(
        user_id=chat_id, chat_id=chat_id, message_id=message_id, group=False, locale="en"
    )
    seeds = tuple(seed if seed is not None and i == 0 else new_seed() for i in range(count))
    return JobContext(
        job_id=new_job_id(),
        origin=origin,
        prompt=prompt,
        seeds=seeds,
        enqueued_at=time.time(),
        action=action,
    )


def stand_in_worker(client: Redis, queue: QueueSettings | None = None) -> Heartbeat:
    """A worker's beat without a worker: the bot takes prompts, and nothing draws them."""
    queue = queue or QueueSettings()
    heartbeat = Heartbeat(client, Keys(queue), queue.worker_gone_s)
    heartbeat.start()
    return heartbeat
