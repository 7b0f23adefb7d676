"""RQ job functions. Arguments are plain JSON; every outcome lands on the results stream."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from rq import get_current_job

from common.failures import publish
from common.protocol import GenerationRequest, Result
from worker.engine import get_engine
from worker.faults import free_memory
from worker.metrics import observe_generation
from worker.safety import Checked, checked

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a batched engine call produced for one job, before the job itself runs."""

    made: Checked = field(default_factory=lambda: Checked([], []))
    error: BaseException | None = None
    generation_ms: float = 0.0
    batch_size: int = 1


# Filled by the batching worker just before it runs each job of a batch, in this process.
_outcomes: dict[str, Outcome] = {}


def store_outcome(job_id: str, outcome: Outcome) -> None:
    _outcomes[job_id] = outcome


def discard_outcome(job_id: str) -> None:
    _outcomes.pop(job_id, None)


def generate(request: dict[str, Any]) -> dict[str, Any]:
    """Make one image and publish it. Returns a small summary that RQ keeps as the result.

    When the worker already made this job's image as part of a batch, only the publishing is
    left; an error from the batch is raised here so the job fails through RQ as usual.
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError("generate must run inside an RQ job")
    valid = GenerationRequest.model_validate(request)
    if valid.source or valid.upscale:
        # The fast path draws plain photos only; the bot queues the rest as `render` jobs.
        raise ValueError("image-to-image and upscales are render jobs")
    outcome = _outcomes.pop(job.id, None)
    if outcome is None:
        started = time.perf_counter()
        engine = get_engine()
        try:
            made = checked(engine.pixels([valid]), engine.jpeg.encode)
        except torch.OutOfMemoryError:
            free_memory()  # for the next job; this one fails with the error answer
            raise
        outcome = Outcome(made=made, generation_ms=(time.perf_counter() - started) * 1000)
        observe_generation(outcome.generation_ms / 1000, 1)
    if outcome.error is not None:
        raise outcome.error
    elapsed_ms, made = outcome.generation_ms, outcome.made
    (image,) = made.images
    result = Result(
        job_id=job.id,
        status="ok",
        image=image,
        generation_ms=elapsed_ms,
        scores=made.scores,
        flagged=made.flagged,
        drawn=get_engine().drawn_text(valid),
    )
    publish(job.connection, result)
    log.info(
        "job=%s seed=%d generation_ms=%.1f batch=%d bytes=%d",
        job.id,
        valid.seed,
        elapsed_ms,
        outcome.batch_size,
        len(image),
    )
    return {
        "seed": valid.seed,
        "generation_ms": round(elapsed_ms, 2),
        "batch_size": outcome.batch_size,
    }
