"""RQ job functions. Arguments are plain JSON; every outcome lands on the results stream."""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from common.config import QueueSettings
from common.protocol import GenerationRequest, Keys, Result
from worker.engine import get_engine

if TYPE_CHECKING:
    from types import TracebackType

    from redis import Redis
    from rq.job import Job

log = logging.getLogger(__name__)


@cache
def _settings() -> QueueSettings:
    return QueueSettings()


def publish(connection: Redis, result: Result) -> None:
    """Append a result for the bot; the stream is capped so an absent bot cannot fill Redis."""
    settings = _settings()
    connection.xadd(
        Keys(settings).results,
        result.to_fields(),  # type: ignore[arg-type]
        maxlen=settings.results_maxlen,
        approximate=True,
    )


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


def on_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """RQ failure callback: the user gets an error message instead of waiting forever."""
    if isinstance(exc, JobTimeoutException):
        error = "timeout"
    elif isinstance(exc, ValidationError):
        error = "invalid"
    else:
        error = "failed"
    log.warning("job=%s failed: %s", job.id, error)
    publish(connection, Result(job_id=job.id, status="error", error=error))
