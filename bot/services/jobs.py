"""Putting generation jobs on the RQ queue, with the record of who asked for them."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from common.protocol import FAILURE_CALLBACK, JOB_FUNCTION, MAX_SEED, GenerationRequest, Keys

if TYPE_CHECKING:
    from redis import Redis

    from common.config import QueueSettings


class JobContext(BaseModel):
    """Where a job's result goes. Stored by the bot only; the worker never sees it."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    chat_id: int
    message_id: int
    user_id: int
    prompt: str
    seed: int
    enqueued_at: float
    locale: str = "en"


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobQueue:
    """Enqueues jobs by import path, so the bot never imports the worker (or torch)."""

    def __init__(self, redis: Redis, queue: QueueSettings, context_ttl_s: int) -> None:
        self._redis = redis
        self._settings = queue
        self._keys = Keys(queue)
        self._context_ttl_s = context_ttl_s
        self._queue = Queue(queue.queue_name, connection=redis, serializer=JSONSerializer)

    @property
    def queue_key(self) -> str:
        """The Redis list RQ keeps waiting job ids in, oldest first."""
        return str(self._queue.key)

    async def submit(
        self,
        prompt: str,
        *,
        chat_id: int,
        message_id: int,
        user_id: int,
        seed: int | None = None,
        job_id: str | None = None,
        locale: str = "en",
    ) -> JobContext:
        """Enqueue one image; RQ's blocking client runs off the event loop."""
        request = GenerationRequest(prompt=prompt, seed=new_seed() if seed is None else seed)
        context = JobContext(
            job_id=job_id or new_job_id(),
            chat_id=chat_id,
            message_id=message_id,
            user_id=user_id,
            prompt=request.prompt,
            seed=request.seed,
            enqueued_at=time.time(),
            locale=locale,
        )
        await asyncio.to_thread(self._enqueue, request, context)
        return context

    def _enqueue(self, request: GenerationRequest, context: JobContext) -> None:
        with self._redis.pipeline() as pipe:
            self._queue.enqueue_call(
                JOB_FUNCTION,
                kwargs={"request": request.model_dump()},
                job_id=context.job_id,
                timeout=self._settings.job_timeout_s,
                result_ttl=self._settings.result_ttl_s,
                failure_ttl=self._settings.failure_ttl_s,
                on_failure=Callback(FAILURE_CALLBACK),
                # Bounded; `on_failure` vetoes retrying timeouts and invalid requests.
                retry=Retry(max=retries) if (retries := self._settings.job_retries) else None,
                pipeline=pipe,
            )
            # Queued after the job in the same MULTI (RQ opens it), so both land or neither.
            pipe.set(
                self._keys.job_context(context.job_id),
                context.model_dump_json(),
                ex=self._context_ttl_s,
            )
            pipe.execute()

    def depth(self) -> int:
        return int(self._queue.count)
