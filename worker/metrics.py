"""The worker's Prometheus metrics, and its `/metrics` and `/healthz` endpoint.

RQ runs jobs synchronously in this process, so the endpoint is a small threaded HTTP server
beside it. Generations are counted where the engine is called: `jobs.generate` (a photo made
alone), `BatchWorker._make_images` (photos made together) and `play.render` (variations, PNG
files, image-to-image).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import torch
from prometheus_client import Counter, Gauge, Histogram
from redis import Redis
from redis.exceptions import RedisError
from rq.utils import now

from common.metrics import NAMESPACE, PORT_TAKEN, Problems, serve_in_thread

if TYPE_CHECKING:
    from rq.job import Job

    from common.config import MetricsSettings, RedisSettings

log = logging.getLogger(__name__)

GENERATION = Histogram(
    "generation_seconds", "One engine call: prompts in, encoded images out (a batch is one call).",
    namespace=NAMESPACE, subsystem="worker",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)  # fmt: skip
BATCH_SIZE = Histogram(
    "batch_size", "Images made by one engine call.",
    namespace=NAMESPACE, subsystem="worker", buckets=(1, 2, 4, 8, 16, 32),
)  # fmt: skip
IMAGES = Counter("images", "Images made.", namespace=NAMESPACE, subsystem="worker")
READY = Gauge(
    "ready", "1 once the model is loaded and warmed up.", namespace=NAMESPACE, subsystem="worker"
)
QUEUE_WAIT = Histogram(
    "queue_wait_seconds", "From a job's enqueueing to this worker taking it.",
    namespace=NAMESPACE, subsystem="worker",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 180),
)  # fmt: skip
CUDA_GRAPHS = Gauge(
    "cuda_graphs", "1 while the single step replays CUDA graphs; 0 when it runs eagerly (not "
    "CUDA, CUDA_GRAPHS=false, or a capture that failed or did not match the eager step).",
    namespace=NAMESPACE, subsystem="worker",
)  # fmt: skip
# Set after each engine call on CUDA (absent elsewhere): allocated now, the peak, the card.
GPU_MEMORY = Gauge(
    "gpu_memory_bytes", "GPU memory: allocated, peak (since start) and total of the device.",
    ["kind"], namespace=NAMESPACE, subsystem="worker",
)  # fmt: skip
# One verdict per picture the safety check looked at: "safe" or "flagged" (what the chat's
# policy then does with a flagged one, blur or block, the bot decides).
SAFETY_VERDICTS = Counter(
    "safety_verdicts", "Verdicts of the image safety check, per image.",
    ["verdict"], namespace=NAMESPACE, subsystem="worker",
)  # fmt: skip


def observe_generation(seconds: float, images: int) -> None:
    GENERATION.observe(seconds)
    BATCH_SIZE.observe(images)
    IMAGES.inc(images)
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        device = torch.cuda.current_device()
        GPU_MEMORY.labels("allocated").set(torch.cuda.memory_allocated(device))
        GPU_MEMORY.labels("peak").set(torch.cuda.max_memory_allocated(device))
        GPU_MEMORY.labels("total").set(torch.cuda.get_device_properties(device).total_memory)


def observe_queue_wait(job: Job) -> None:
    if job.enqueued_at is not None:
        QUEUE_WAIT.observe(max(0.0, (now() - job.enqueued_at).total_seconds()))


class WorkerHealth:
    """Ready once the model is loaded and warm, and while Redis answers."""

    def __init__(self, redis: RedisSettings) -> None:
        # A client of its own with short timeouts: a check must answer while a job runs.
        self._redis = Redis.from_url(
            redis.redis_url, socket_connect_timeout=2, socket_timeout=2, **redis.client_options()
        )
        self._ready = threading.Event()
        self._failed = ""

    def set_ready(self) -> None:
        self._ready.set()
        READY.set(1)

    def set_failed(self, reason: str) -> None:
        """Not ready any more, for good: the process is about to exit."""
        self._failed = reason
        self._ready.clear()
        READY.set(0)

    def problems(self) -> Problems:
        if self._failed:
            found = [self._failed]
        else:
            found = [] if self._ready.is_set() else ["model not loaded and warmed up yet"]
        try:
            self._redis.ping()
        except (RedisError, OSError) as exc:
            found.append(f"redis unreachable ({type(exc).__name__})")
        return found


def serve(settings: MetricsSettings, redis: RedisSettings) -> WorkerHealth:
    """Start answering `/metrics` and `/healthz` (503 until `set_ready`); off at port 0."""
    health = WorkerHealth(redis)
    if settings.metrics_port:
        try:
            serve_in_thread(settings.metrics_host, settings.metrics_port, health.problems)
        except OSError as exc:
            log.error(PORT_TAKEN, settings.metrics_port, exc)
    return health
