"""`python -m worker`: load the pipeline once, warm it up, then run jobs in this process."""

from __future__ import annotations

import logging
import sys

from diffusers.utils import logging as diffusers_logging
from pydantic import ValidationError
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from transformers.utils import logging as transformers_logging

from worker import metrics
from worker.config import load_settings
from worker.engine import load_engine, set_engine
from worker.lifecycle import run_worker

log = logging.getLogger("worker")


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Progress bars would fill the log with one line per loaded file.
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        settings = load_settings()
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, err["loc"])).upper() for err in exc.errors())
        log.error("invalid settings: %s", fields)
        return 2
    # Up before the model loads: a first start downloading weights answers 503, not nothing.
    health = metrics.serve(settings.metrics, settings.redis.redis_url)
    engine = load_engine(settings.model, settings.speed)
    set_engine(engine)
    if settings.model.warmup:
        for done in engine.warm_up():
            log.info(
                "warm-up: batch %d ready in %.1f s (peak GPU memory %.2f GiB)",
                done.batch,
                done.seconds,
                done.peak_bytes / 2**30,
            )
    health.set_ready()
    connection = Redis.from_url(settings.redis.redis_url, socket_connect_timeout=5)
    queue = Queue(settings.queue.queue_name, connection=connection, serializer=JSONSerializer)
    log.info("ready: listening on queue %r", settings.queue.queue_name)
    # Jobs run in this process (a SimpleWorker): RQ's default Worker forks per job, which
    # would throw the warm pipeline away (and CUDA cannot be used in a forked child). Jobs
    # waiting together run as one pipeline call, up to MAX_BATCH.
    return run_worker(connection, queue, settings.queue, max_batch=settings.speed.max_batch)


if __name__ == "__main__":
    sys.exit(main())
