"""Publishing results, and the RQ failure callback that turns every failure into an answer.

Torch-free on purpose: the callback runs in the worker when a job raises, but also in the bot,
whose sweeper hands abandoned jobs (their worker died) to RQ's own registry cleanup. Either way
the user hears back, once the job will not be retried.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rq.exceptions import AbandonedJobError
from rq.timeouts import JobTimeoutException

from common.config import QueueSettings
from common.protocol import Keys, Result

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


def error_code(exc: BaseException | None) -> str:
    """The short reason the bot turns into a message for the user."""
    if isinstance(exc, JobTimeoutException):
        return "timeout"
    if isinstance(exc, ValidationError):
        return "invalid"
    if isinstance(exc, AbandonedJobError):
        return "abandoned"
    return "failed"


def on_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """RQ failure callback: retry what may succeed, answer the user about the rest.

    RQ calls this before it decides on a retry, and reads `retries_left` after it, so zeroing
    it here keeps a stuck (timed out) or invalid request from running again.
    """
    code = error_code(exc)
    # Out of GPU memory even alone: it would not fit the next time either (by name: the
    # bot runs this callback too, and never imports torch).
    if code in {"timeout", "invalid"} or type(exc).__name__ == "OutOfMemoryError":
        job.retries_left = 0
    if job.retries_left:
        log.warning("job=%s %s: %d retry left", job.id, code, job.retries_left)
        return
    log.warning("job=%s failed: %s", job.id, code)
    publish(connection, Result(job_id=job.id, status="error", error=code))
