"""The bot's Prometheus metrics, and its `/metrics` and `/healthz` endpoint on aiohttp.

Counted at a few choke points, so handlers and services stay free of metric code:
- `counts_admissions` wraps `ImagineService.request`: every request, queued or refused (why);
- `TelegramErrorCounter` is a Bot API session middleware: every error Telegram (or the
  network) answers, by method and code;
- `count_delivery` is called once per answer the delivery loop tried to send.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from aiogram import exceptions as tg
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import RedisError

from bot import texts
from bot.shared.outcome import Outcome
from common.metrics import (
    HEALTH_PATH,
    LISTENING,
    METRICS_PATH,
    NAMESPACE,
    PORT_TAKEN,
    Problems,
    exposition,
    health_answer,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import Response, TelegramMethod
    from aiogram.methods.base import TelegramType
    from redis.asyncio import Redis

    from bot.requests.jobs import JobContext
    from bot.requests.workers import Workers
    from common.config import MetricsSettings
    from common.protocol import Result

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

REQUESTS = Counter(
    "requests", "Requests by outcome: accepted, or refused and why.",
    ["outcome", "reason"], namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
PICTURES_SENT = Counter(
    "pictures_sent", "Pictures Telegram accepted (an album counts each).",
    namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
FAILURES = Counter(
    "failures", "Answers that are not a picture: a worker error code (timeout, failed, "
    "abandoned, invalid), undeliverable (Telegram refuses for good), send_deferred (attempts "
    "ran out; tried again later).", ["kind"], namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
TELEGRAM_ERRORS = Counter(
    "telegram_errors", "Failed Bot API calls by method and code (429, 400, 403, 5xx, network…).",
    ["method", "code"], namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
UPDATE_TO_PHOTO = Histogram(
    "update_to_photo_seconds", "From accepting a request to Telegram taking its picture.",
    namespace=NAMESPACE, subsystem="bot",
    buckets=(0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120, 300),
)  # fmt: skip
QUEUE_DEPTH = Gauge(
    "queue_depth", "Jobs waiting in the queue, read from Redis at each scrape (NaN: unknown).",
    namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
BACKLOG = Gauge(
    "backlog", "Entries waiting in a stream: inbox (updates not yet handled) and results "
    "(made, not yet at Telegram), read at each scrape.", ["stream"], namespace=NAMESPACE,
    subsystem="bot",
)  # fmt: skip
REDIS_MEMORY = Gauge(
    "redis_memory_bytes", "Redis memory: used, and max (its maxmemory; 0: no limit set), "
    "read at each scrape.", ["kind"], namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
WORKERS_ALIVE = Gauge(
    "workers_alive", "GPU workers that beat within WORKER_GONE_S, read at each scrape and "
    "health check (NaN: unknown).", namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
# Read at each scrape from the bot's two loops (`bot/shared/running.py`): 0 when the bot is
# idle; a value stuck above 0 with nothing to do would mean capacity lost.
SLOTS_BUSY = Gauge(
    "slots_busy", "Concurrency slots in use: intake (updates being handled, of 64) and "
    "delivery (results being sent, of 64).", ["loop"], namespace=NAMESPACE, subsystem="bot",
)  # fmt: skip
# Observed by the outgoing pacing (`bot/outbound/pacing.py`) for every paced send: 0 when its
# turn had come, else how long it waited under Telegram's per-chat and global limits.
SEND_PACE_WAIT = Histogram(
    "send_pace_wait_seconds", "Time a send waited for its turn under Telegram's limits.",
    namespace=NAMESPACE, subsystem="bot", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)  # fmt: skip

# The bot's own time per request, in the stages `bench.system` splits the path into. Two are
# read against a stream entry's id, which is Redis's clock: they assume the bot's agrees.
STAGE = Histogram(
    "stage_seconds", "The bot's time per request by stage: inbox (an update recorded → its "
    "handler), handler (the whole update: admission, enqueue, queue status), results (the "
    "worker's result written → its delivery), send (the Telegram call that sends a picture, "
    "upload included).", ["stage"], namespace=NAMESPACE, subsystem="bot",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)  # fmt: skip


# Bound once: the prompt-to-photo path observes them, and a label lookup per call is waste.
STAGE_INBOX, STAGE_HANDLER, STAGE_RESULTS, STAGE_SEND = (
    STAGE.labels(stage) for stage in ("inbox", "handler", "results", "send")
)


def since_entry(entry_id: bytes) -> float:
    """Seconds since a stream entry was added, from its id's milliseconds (never below 0)."""
    try:
        added_ms = int(entry_id.split(b"-", 1)[0])
    except ValueError:
        return 0.0
    return max(0.0, time.time() - added_ms / 1000)


REFUSAL_REASONS = {
    texts.USAGE: "empty",
    texts.TOO_LONG: "too_long",
    texts.BAD_SEED: "bad_seed",
    texts.BLOCKED: "blocked",
    texts.PAUSED: "paused",
    texts.SLOW_DOWN: "user_rate",
    texts.GROUP_BUSY: "group_rate",
    texts.WAIT_FOR_RUNNING: "inflight",
    texts.QUEUE_FULL: "queue_full",
}


def counts_admissions(admit: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Count each admission's outcome; a refusal is told apart by the text id it carries."""

    @functools.wraps(admit)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> T:
        outcome = await admit(*args, **kwargs)
        refused = getattr(outcome, "text", None)
        if refused is None:
            REQUESTS.labels("accepted", "").inc()
        else:
            REQUESTS.labels("refused", REFUSAL_REASONS.get(refused, "other")).inc()
        return outcome

    return counted


_CODES: tuple[tuple[type[tg.TelegramAPIError], str], ...] = (
    (tg.TelegramRetryAfter, "429"),
    (tg.TelegramMigrateToChat, "400"),
    (tg.TelegramBadRequest, "400"),
    (tg.TelegramUnauthorizedError, "401"),
    (tg.TelegramForbiddenError, "403"),
    (tg.TelegramNotFound, "404"),
    (tg.TelegramConflictError, "409"),
    (tg.TelegramEntityTooLarge, "413"),  # before its parent, TelegramNetworkError
    (tg.TelegramServerError, "5xx"),
    (tg.TelegramNetworkError, "network"),
)


def telegram_error_code(exc: tg.TelegramAPIError) -> str:
    return next((code for kind, code in _CODES if isinstance(exc, kind)), "other")


class TelegramErrorCounter(BaseRequestMiddleware):
    """Counts every Bot API call that fails, whoever made it; the error goes on unchanged."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except tg.TelegramAPIError as exc:
            TELEGRAM_ERRORS.labels(method.__api_method__, telegram_error_code(exc)).inc()
            raise


def count_delivery(context: JobContext, result: Result, outcome: Outcome) -> None:
    """Count one attempt of the delivery loop at sending an answer."""
    if outcome is Outcome.DROPPED:
        FAILURES.labels("undeliverable").inc()
    elif outcome is Outcome.LATER:
        FAILURES.labels("send_deferred").inc()
    elif result.status != "ok":
        FAILURES.labels(result.error or "failed").inc()
    else:
        PICTURES_SENT.inc(len(result.images))
        UPDATE_TO_PHOTO.observe(max(0.0, time.time() - context.enqueued_at))


class BotHealth:
    """Ready while Redis answers and every background loop (delivery, sweep, status) runs.

    Whether a worker is alive is said in the body but never makes the bot unhealthy: the bot
    is what answers "no GPU worker" meanwhile, and restarting it would help nobody.
    """

    def __init__(
        self,
        redis: Redis,
        queue_key: str,
        loops: list[asyncio.Task[None]],
        workers: Workers | None = None,
        streams: dict[str, str] | None = None,
    ) -> None:
        self._redis, self._queue_key, self._loops = redis, queue_key, loops
        self._workers = workers
        # Stream keys by the name the backlog gauge shows them under.
        self._streams = streams or {}

    async def remarks(self) -> list[str]:
        """What is wrong beyond the bot itself; also updates `workers_alive`."""
        if self._workers is None:
            return []
        try:
            alive = await asyncio.wait_for(self._workers.alive(), 2)
        except (RedisError, OSError, TimeoutError):
            WORKERS_ALIVE.set(float("nan"))
            return []
        WORKERS_ALIVE.set(alive)
        return [] if alive else ["no live worker"]

    async def problems(self) -> Problems:
        ended = sum(task.done() for task in self._loops)
        found = [f"{ended} of {len(self._loops)} background loops ended"] if ended else []
        try:
            await asyncio.wait_for(self._redis.ping(), timeout=2)
        except (RedisError, OSError, TimeoutError) as exc:
            found.append(f"redis unreachable ({type(exc).__name__})")
        return found

    async def read_queue_depth(self) -> None:
        """The queue depth, and Redis's memory use and limit (INFO memory), at each scrape."""
        try:
            QUEUE_DEPTH.set(int(await asyncio.wait_for(self._redis.llen(self._queue_key), 2)))
            for stream, key in self._streams.items():
                BACKLOG.labels(stream).set(await asyncio.wait_for(self._redis.xlen(key), 2))
            memory = await asyncio.wait_for(self._redis.info("memory"), 2)
            REDIS_MEMORY.labels("used").set(float(memory.get("used_memory", "nan")))
            REDIS_MEMORY.labels("max").set(float(memory.get("maxmemory", 0)))
        except (RedisError, OSError, TimeoutError):
            QUEUE_DEPTH.set(float("nan"))
            REDIS_MEMORY.labels("used").set(float("nan"))


class MetricsEndpoint:
    """The running aiohttp site, or nothing when METRICS_PORT is 0 or the port is taken."""

    def __init__(self, runner: web.AppRunner | None = None) -> None:
        self._runner = runner

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def serve(settings: MetricsSettings, health: BotHealth) -> MetricsEndpoint:
    """Start serving `/metrics` and `/healthz` on the bot's event loop."""
    if not settings.metrics_port:
        return MetricsEndpoint()

    async def metrics(_: web.Request) -> web.Response:
        await health.read_queue_depth()
        await health.remarks()
        body, content_type = exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(_: web.Request) -> web.Response:
        status, text = health_answer(await health.problems())
        text += "".join(f"{remark}\n" for remark in await health.remarks())
        return web.Response(status=status, text=text)

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    app.router.add_get(HEALTH_PATH, healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
    except OSError as exc:
        log.error(PORT_TAKEN, settings.metrics_port, exc)
        await runner.cleanup()
        return MetricsEndpoint()
    log.info(LISTENING, settings.metrics_host, settings.metrics_port)
    return MetricsEndpoint(runner)
