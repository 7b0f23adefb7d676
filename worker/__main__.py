"""`python -m worker`: load the pipeline once, warm it up, then run jobs in this process;
or, with `WORKER_GPUS` / `WORKER_PROCESSES`, supervise one such process per device."""

from __future__ import annotations

import logging
import sys
import time

from diffusers.utils import logging as diffusers_logging
from pydantic import ValidationError
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from transformers.utils import logging as transformers_logging

from common.protocol import IMAGE_SIZE, Keys
from common.redis_auth import warn_if_open
from worker import metrics
from worker.config import load_settings
from worker.engine import load_engine, set_engine
from worker.heartbeat import Heartbeat
from worker.lifecycle import DEVICE_FAILED, run_worker
from worker.safety import load_checker, set_checker
from worker.startup import StartupError
from worker.supervisor import devices, supervise
from worker.translate import load_translator

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
    try:
        labels = devices(settings.supervisor)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 2
    if labels:  # each worker it starts warns about Redis itself
        return supervise(settings, labels)
    warn_if_open(settings.redis, log)
    # Up before the model loads: a first start downloading weights answers 503, not nothing.
    health = metrics.serve(settings.metrics, settings.redis)
    try:
        engine = load_engine(settings.model, settings.speed)
        # The classifier shares the pipeline's device and precision; on CUDA each batch size
        # is warmed up (kernels are picked per shape), elsewhere one image is enough.
        checker = load_checker(settings.safety, engine.device, engine.pipe.unet.dtype)
        # Beside the engine, in its precision: float16 on CUDA.
        engine.translator = load_translator(
            settings.translate, engine.device, engine.pipe.unet.dtype
        )
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 2
    set_engine(engine)
    set_checker(checker)
    if settings.model.warmup:
        if engine.translator is not None:
            started = time.perf_counter()
            engine.translator.warm_up()
            log.info("translator warm-up took %.0f ms", (time.perf_counter() - started) * 1000)
        if checker is not None:
            sizes = range(1, engine.max_batch + 1) if engine.device.type == "cuda" else [1]
            log.info(
                "safety warm-up took %.0f ms", checker.warm_up(list(sizes), IMAGE_SIZE, IMAGE_SIZE)
            )
        for done in engine.warm_up():
            log.info(
                "warm-up: batch %d ready in %.1f s (peak GPU memory %.2f GiB)",
                done.batch,
                done.seconds,
                done.peak_bytes / 2**30,
            )
    health.set_ready()
    auth = settings.redis.client_options()
    connection = Redis.from_url(settings.redis.redis_url, socket_connect_timeout=5, **auth)
    queue = Queue(settings.queue.queue_name, connection=connection, serializer=JSONSerializer)
    # A client of its own: RQ tunes its connection's socket timeout to its blocking reads, and
    # a connection the beat opened in that pool first would time those reads out.
    beat_connection = Redis.from_url(
        settings.redis.redis_url, socket_connect_timeout=5, socket_timeout=5, **auth
    )
    heartbeat = Heartbeat(beat_connection, Keys(settings.queue), settings.queue.worker_gone_s)
    heartbeat.start()
    log.info("ready: listening on queue %r", settings.queue.queue_name)
    try:
        # Jobs run in this process (a SimpleWorker): RQ's default Worker forks per job, which
        # would throw the warm pipeline away (and CUDA cannot be used in a forked child). Jobs
        # waiting together run as one pipeline call, up to MAX_BATCH.
        code = run_worker(connection, queue, settings.queue, max_batch=engine.max_batch)
        if code == DEVICE_FAILED:
            health.set_failed("the GPU failed; restarting")
            log.error("exiting with status %d so that the supervisor restarts the worker", code)
        return code
    finally:
        heartbeat.stop()
        beat_connection.close()


if __name__ == "__main__":
    sys.exit(main())
