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


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


class JobQueue:
    """Enqueues jobs by import path, so the bot never imports the worker (or torch)."""

    def __init__(self, redis: Redis, queue: QueueSettings, context_ttl_s: int) -> None:
        self._redis = redis
        self._settings = queue
        self._keys = Keys(queue)
        self._context_ttl_s = context_ttl_s
        self._queue = Queue(queue.queue_name, connection=redis, serializer=JSONSerializer)

    async def submit(
        self, prompt: str, *, chat_id: int, message_id: int, user_id: int, seed: int | None = None
    ) -> JobContext:
        """Enqueue one image; RQ's blocking client runs off the event loop."""
        return await asyncio.to_thread(
            self._submit_sync, prompt, chat_id, message_id, user_id, seed
        )

    def _submit_sync(
        self, prompt: str, chat_id: int, message_id: int, user_id: int, seed: int | None
    ) -> JobContext:
        request = GenerationRequest(prompt=prompt, seed=new_seed() if seed is None else seed)
        context = JobContext(
            job_id=uuid.uuid4().hex,
            chat_id=chat_id,
            message_id=message_id,
            user_id=user_id,
            prompt=request.prompt,
            seed=request.seed,
            enqueued_at=time.time(),
        )
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
        return context

    def depth(self) -> int:
        return int(self._queue.count)
