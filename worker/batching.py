"""Micro-batching: jobs waiting together run as one pipeline call, each still an RQ job.

RQ's SimpleWorker runs one job at a time. `BatchWorker` dequeues a job the usual way, then
takes (without blocking) up to MAX_BATCH - 1 more that are already waiting, makes all their
images in one engine call, and then runs each job through RQ's normal path: the job function
finds its image ready and only publishes it. So every job keeps RQ's bookkeeping (started,
finished and failed registries, status, result, failure callback), and an empty queue adds no
waiting: a lone job starts at once. (RQ's `max_jobs` counts batches, not jobs, with this worker.)
Jobs being worked on keep short-lived claims (`worker.claims`), and SIGTERM lets the running
batch finish and be delivered before the worker stops.

Where the device works in the background (`Engine.overlaps`), one `execute_job` may run a
chain of batches: the next batch is begun, its GPU work queued, before this one's JPEGs are
encoded on the host, so the two overlap.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rq import SimpleWorker
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ReadyJobRegistry,
    StartedJobRegistry,
)
from rq.suspension import is_suspended
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker.base import WorkerStatus
from rq.worker_registration import clean_worker_registry

from common.clock import sweep_started
from common.config import REDIS_RETRY_MAX_S
from common.protocol import JOB_FUNCTION, GenerationRequest
from common.trusted import foreign, refuse
from worker.claims import ClaimRenewal
from worker.engine import get_engine
from worker.faults import free_memory, is_device_failure, is_out_of_memory
from worker.jobs import Outcome, discard_outcome, store_outcome
from worker.metrics import observe_generation, observe_queue_wait
from worker.safety import Pending, started

if TYPE_CHECKING:
    from types import FrameType

    from rq.executions import Execution
    from rq.job import Job
    from rq.queue import Queue

log = logging.getLogger("worker")

Shape = tuple[int, int]


def _request(job: Job) -> GenerationRequest | None:
    """The job's request if it is a well-formed generation; others run (and fail) on their own."""
    if job.func_name != JOB_FUNCTION:
        return None
    try:
        request = GenerationRequest.model_validate(job.kwargs.get("request"))
    except ValidationError:
        return None
    # Only plain photos are batched: a forged image-to-image or 2× request fails on its own.
    return None if request.source or request.upscale else request


@dataclass(slots=True)
class _Drawing:
    """A group of one batch whose images are made on the device, not yet encoded."""

    group: list[tuple[Job, GenerationRequest]]
    pending: Pending
    started_at: float


@dataclass(slots=True)
class _Batch:
    """Jobs taken together: claimed, started, and their images begun."""

    running: list[tuple[Job, Execution]]
    renewal: ClaimRenewal
    drawing: list[_Drawing]


class BatchWorker(SimpleWorker):
    """A SimpleWorker (the warm pipeline stays in this process) that runs up to `max_batch`
    waiting jobs as one engine call, holding claims of `abandon_after_s` on them meanwhile."""

    # RQ's own wait between tries while Redis is away would double up to a minute.
    max_connection_wait_time = REDIS_RETRY_MAX_S

    def __init__(
        self, *args: Any, max_batch: int = 1, abandon_after_s: int = 30, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_batch = max_batch
        self.abandon_after_s = abandon_after_s
        self.stop_requested = False
        # A CUDA error that broke the device: the worker stops and exits non-zero.
        self.device_failure: BaseException | None = None

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.abandon_after_s

    def clean_registries(self) -> None:
        """RQ's periodic maintenance (`rq.registry.clean_registries`), with abandoned jobs
        found on Redis's clock: RQ's own would judge other workers' claims by this host's."""
        for queue in self.queues:
            if not queue.acquire_maintenance_lock():
                continue
            for kind in (
                FinishedJobRegistry,
                FailedJobRegistry,
                DeferredJobRegistry,
                ReadyJobRegistry,
            ):
                kind(queue=queue, job_class=queue.job_class).cleanup()
            started = StartedJobRegistry(queue=queue, death_penalty_class=self.death_penalty_class)
            sweep_started(started, self._exc_handlers)
            clean_worker_registry(queue)
            queue.intermediate_queue.cleanup(self, queue)
            queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
        self.last_cleaned_at = now()  # type: ignore[assignment]

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # RQ's warm shutdown: a running job finishes (and is delivered), then the loop ends.
        self.stop_requested = True
        log.info("stop requested: finishing the current job first")
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def execute_job(self, job: Job, queue: Queue) -> None:
        if reason := foreign(job):
            refuse(job, reason)
            queue.intermediate_queue.remove(job.id)
            self.set_state(WorkerStatus.IDLE)
            return
        batch: _Batch | None = self._begin([job, *self._take_waiting(queue, self.max_batch - 1)])
        while batch is not None:
            try:
                following = self._look_ahead(queue)
            finally:
                self._end(batch, queue)
            batch = following
        self.set_state(WorkerStatus.IDLE)

    def _begin(self, jobs: list[Job]) -> _Batch:
        """Claim the jobs, mark them started, and start their images (all of them at once)."""
        for each in jobs:
            observe_queue_wait(each)
        executions = [self.prepare_execution(each) for each in jobs]
        for each in jobs:
            # As BaseWorker.perform_job does: status STARTED, out of the intermediate queue.
            self.prepare_job_execution(each, remove_from_intermediate_queue=len(self.queues) == 1)
            each.started_at = now()
        running = list(zip(jobs, executions, strict=True))
        renewal = ClaimRenewal(self, running, self.abandon_after_s)
        renewal.start()
        batch = _Batch(running, renewal, [])
        try:
            overlaps = get_engine().overlaps
            if len(jobs) > 1 or overlaps:
                batch.drawing = self._make_images(jobs, defer=overlaps)
        except BaseException:
            self._end(batch, None)
            raise
        return batch

    def _look_ahead(self, queue: Queue) -> _Batch | None:
        """The next batch, begun before this one's images are encoded: its GPU work queues
        behind this batch's copies, so the device draws it while the host makes this batch's
        JPEGs. Only where that overlaps (`Engine.overlaps`), and only while the worker would
        otherwise take the next job at once (no stop, suspension or maintenance due)."""
        if not get_engine().overlaps or self.stop_requested or self.device_failure is not None:
            return None
        if self.should_run_maintenance_tasks or is_suspended(self.connection, self):
            return None
        waiting = self._take_waiting(queue, self.max_batch)
        return self._begin(waiting) if waiting else None

    def _end(self, batch: _Batch, queue: Queue | None) -> None:
        """Encode what was started, then run each job through RQ (it publishes its image)."""
        try:
            for drawing in batch.drawing:
                self._finish(drawing)
            if queue is not None:
                for each, execution in batch.running:
                    self._perform_prepared(each, queue, execution)
        finally:
            batch.renewal.stop()
            for each, _ in batch.running:
                discard_outcome(each.id)

    def _take_waiting(self, queue: Queue, limit: int) -> list[Job]:
        """Up to `limit` jobs of this queue, only those already there (no blocking)."""
        taken: list[Job] = []
        while len(taken) < limit:
            result = self.queue_class.dequeue_any(
                [queue],
                None,
                connection=self.connection,
                job_class=self.job_class,
                serializer=self.serializer,
                death_penalty_class=self.death_penalty_class,
            )
            if result is None:
                break
            extra = result[0]
            if reason := foreign(extra):
                refuse(extra, reason)
                queue.intermediate_queue.remove(extra.id)
                continue
            extra.redis_server_version = self.get_redis_server_version()  # type: ignore[no-untyped-call]
            self.log.info("Worker %s: %s: %s (batched)", self.name, queue.name, extra.id)
            taken.append(extra)
        return taken

    def _make_images(self, jobs: list[Job], defer: bool = False) -> list[_Drawing]:
        """One engine call per request shape; each job's image (or the error) is stored, or
        with `defer` the started ones are returned for `_finish` to encode."""
        groups: dict[Shape, list[tuple[Job, GenerationRequest]]] = {}
        for job in jobs:
            request = _request(job)
            if request is not None:
                shape = (request.width, request.height)
                groups.setdefault(shape, []).append((job, request))
        # Every prompt of the micro-batch through the translator at once: one model call for
        # all their Cyrillic text; the engine's calls below then find it known.
        if groups:
            try:
                get_engine().drawn_prompts([r for group in groups.values() for _, r in group])
            except Exception as exc:  # each draw below meets it again, in its own error route
                log.warning("translating the batch's prompts failed: %s", exc)
        drawing: list[_Drawing] = []
        for group in groups.values():
            # A single one is made inside its own job, as without batching, unless deferred.
            if len(group) > 1 or defer:
                drawing += self._draw(group, defer)
        return drawing

    def _draw(self, group: list[tuple[Job, GenerationRequest]], defer: bool) -> list[_Drawing]:
        """One engine call for the group; out of memory, each half on its own."""
        started_at = time.perf_counter()
        try:
            with self._deadline(group):
                engine = get_engine()
                pixels = engine.pixels([request for _, request in group])
                drawing = _Drawing(group, started(pixels, to_host=defer), started_at)
        except Exception as exc:
            if is_out_of_memory(exc):
                free_memory()
                if len(group) > 1:
                    log.warning("out of GPU memory at batch %d; drawing it in halves", len(group))
                    half = len(group) // 2
                    return self._draw(group[:half], defer) + self._draw(group[half:], defer)
            self._failed(group, exc)
            return []
        if defer:
            return [drawing]
        self._finish(drawing)
        return []

    def _finish(self, drawing: _Drawing) -> None:
        """Encode a started group's images and store each job's; its time runs from its start."""
        group = drawing.group
        try:
            with self._deadline(group):
                made = drawing.pending.finish(get_engine().jpeg.encode)
        except Exception as exc:
            self._failed(group, exc)
            return
        elapsed_ms = (time.perf_counter() - drawing.started_at) * 1000
        observe_generation(elapsed_ms / 1000, len(group))
        for index, (job, _) in enumerate(group):
            outcome = Outcome(
                made=made.one(index), generation_ms=elapsed_ms, batch_size=len(group)
            )
            store_outcome(job.id, outcome)

    def _deadline(self, group: list[tuple[Job, GenerationRequest]]) -> Any:
        # The whole call must end within the shortest timeout of its jobs.
        timeout = min(job.timeout or self.queue_class.DEFAULT_TIMEOUT for job, _ in group)
        return self.death_penalty_class(timeout, JobTimeoutException, job_id=group[0][0].id)

    def _failed(self, group: list[tuple[Job, GenerationRequest]], exc: BaseException) -> None:
        self._note(exc)
        for job, _ in group:
            store_outcome(job.id, Outcome(error=exc, batch_size=len(group)))

    def _note(self, exc: BaseException) -> None:
        """A broken device ends the worker once the jobs in hand are failed (and retried)."""
        if is_device_failure(exc) and self.device_failure is None:
            log.error("the GPU failed (%s); the worker stops and exits", exc)
            self.device_failure = exc
            self.request_stop(signal.SIGTERM, None)

    def _perform_prepared(self, job: Job, queue: Queue, execution: Execution) -> None:
        """BaseWorker.perform_job without its preparation, which execute_job did for all."""
        try:
            timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=job.id):
                return_value = job.perform()
            self._finalize_success(job, queue, execution, return_value)
        except:  # noqa: E722 - like RQ, every failure goes to the job's failure handling
            exc_info = sys.exc_info()
            self._finalize_failure(job, queue, execution, exc_info)
            if exc_info[1] is not None:
                self._note(exc_info[1])
