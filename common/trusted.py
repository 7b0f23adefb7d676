"""Only the project's own jobs run: RQ imports whatever function (and callbacks) a job names.

Anyone who can write to Redis can put a job on the queue, and RQ would import and call the
function the job hash names (`os.system` as well as `worker.jobs.generate`), its success,
failure and stopped callbacks, and send its webhooks. Before a worker performs a job, and
before a sweep runs the failure callback of an abandoned one, `foreign` checks that the job
names our own job function, at most our own failure callback, and nothing else; a foreign
job is failed without running anything it names (`refuse`); an error result for its id
still goes to the bot, so a real job whose hash was tampered with is answered, not lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from rq.job import JobStatus

from common.failures import publish
from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION, PLAY_FUNCTION, Result

if TYPE_CHECKING:
    from rq.job import Job

log = logging.getLogger(__name__)

FUNCTIONS: Final = frozenset({JOB_FUNCTION, PLAY_FUNCTION})
# A refused job's hash is kept this long (for an operator to look at), then expires.
REFUSED_TTL_S: Final = 86_400


def foreign(job: Job) -> str | None:
    """Why the job is not one of ours, or None when it is."""
    try:
        name = job.func_name
    except Exception as exc:  # undecodable data: RQ raises DeserializationError and others
        return f"unreadable job data ({type(exc).__name__})"
    if name not in FUNCTIONS:
        return f"function {name!r} is not a job of this project"
    if job.instance is not None or job.args:
        return "job carries an instance or positional arguments"
    if job._failure_callback_name not in (None, "", FAILURE_CALLBACK):
        return f"failure callback {job._failure_callback_name!r} is not ours"
    for kind, callback in (
        ("success", job._success_callback_name),
        ("stopped", job._stopped_callback_name),
    ):
        if callback:
            return f"{kind} callback {callback!r} is not ours"
    if job.webhooks:
        return "job asks for webhooks"
    return None


def refuse(job: Job, reason: str) -> None:
    """Fail the job without running its function, callbacks or webhooks."""
    log.error("job %s refused, nothing it names was run: %s", job.id, reason)
    with job.connection.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        pipe.expire(job.key, REFUSED_TTL_S)
        pipe.execute()
    # The bot drops a result whose job it did not queue; its own job's user hears back.
    publish(job.connection, Result(job_id=job.id, status="error", error="invalid"))
