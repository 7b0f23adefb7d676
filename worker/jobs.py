"""RQ job functions. Arguments are plain JSON; every outcome lands on the results stream."""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import get_current_job

# `on_failure` stays importable here for jobs enqueued with its old path.
from common.failures import on_failure, publish
from common.protocol import GenerationRequest, Result
from worker.engine import get_engine

__all__ = ["generate", "on_failure", "publish"]

log = logging.getLogger(__name__)


def generate(request: dict[str, Any]) -> dict[str, Any]:
    """Make one image and publish it. Returns a small summary that RQ keeps as the result."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("generate must run inside an RQ job")
    valid = GenerationRequest.model_validate(request)
    started = time.perf_counter()
    (image,) = get_engine().generate([valid])
    elapsed_ms = (time.perf_counter() - started) * 1000
    publish(
        job.connection, Result(job_id=job.id, status="ok", image=image, generation_ms=elapsed_ms)
    )
    log.info(
        "job=%s seed=%d generation_ms=%.1f bytes=%d", job.id, valid.seed, elapsed_ms, len(image)
    )
    return {"seed": valid.seed, "generation_ms": round(elapsed_ms, 2)}
