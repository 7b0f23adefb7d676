"""Putting generation jobs on the RQ queue, with the record of who asked for them."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from common.protocol import (
    FAILURE_CALLBACK,
    JOB_FUNCTION,
    MAX_SEED,
    PLAY_FUNCTION,
    GenerationRequest,
    Keys,
)

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
    # photo: a photo with buttons; file: a PNG document; album: several photos, one per seed.
    action: Action = "photo"
    seeds: tuple[int, ...] = ()
    # Redis key of the image-to-image input; empty for text-to-image.
    source: str = ""
    # inline: the images answer this inline query, uploaded first to the storage chat.
    inline_query_id: str = ""


Action = Literal["photo", "file", "album", "inline"]
# How long the buttons under a photo keep working.
DEFAULT_IMAGE_TTL_S = 7 * 86_400


class ImageRecord(BaseModel):
    """What the buttons under a photo need to make it again, or a variation of it."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    seed: int
    source: str = ""


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobQueue:
    """Enqueues jobs by import path, so the bot never imports the worker (or torch)."""

    def __init__(
        self,
        redis: Redis,
        queue: QueueSettings,
        context_ttl_s: int,
        image_ttl_s: int = DEFAULT_IMAGE_TTL_S,
    ) -> None:
        self._redis = redis
        self._settings = queue
        self._keys = Keys(queue)
        self._context_ttl_s = context_ttl_s
        self._image_ttl_s = image_ttl_s
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
        action: Action = "photo",
        count: int = 1,
        source: str = "",
        inline_query_id: str = "",
    ) -> JobContext:
        """Enqueue `count` images (each its own seed); RQ's client runs off the event loop."""
        seeds = [seed if seed is not None and i == 0 else new_seed() for i in range(count)]
        requests = [
            GenerationRequest(
                prompt=prompt,
                seed=each,
                format="png" if action == "file" else "jpeg",
                source=source,
            )
            for each in seeds
        ]
        context = JobContext(
            job_id=job_id or new_job_id(),
            chat_id=chat_id,
            message_id=message_id,
            user_id=user_id,
            prompt=requests[0].prompt,
            seed=seeds[0],
            enqueued_at=time.time(),
            locale=locale,
            action=action,
            seeds=tuple(seeds),
            source=source,
            inline_query_id=inline_query_id,
        )
        await asyncio.to_thread(self._enqueue, requests, context)
        return context

    def _enqueue(self, requests: list[GenerationRequest], context: JobContext) -> None:
        # A lone text-to-image photo takes the micro-batched fast path; the rest run on their own.
        plain = context.action == "photo" and not context.source
        kwargs: dict[str, Any]
        if plain:
            function, kwargs = JOB_FUNCTION, {"request": requests[0].model_dump()}
        else:
            function, kwargs = PLAY_FUNCTION, {"requests": [r.model_dump() for r in requests]}
        with self._redis.pipeline() as pipe:
            self._queue.enqueue_call(
                function,
                kwargs=kwargs,
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
            if context.action == "photo":
                # Written with the job, so the photo's buttons work whenever it arrives.
                record = ImageRecord(
                    prompt=context.prompt, seed=context.seed, source=context.source
                )
                pipe.set(
                    self._keys.image_record(context.job_id),
                    record.model_dump_json(),
                    ex=self._image_ttl_s,
                )
                if context.source:
                    pipe.expire(context.source, self._image_ttl_s)
            pipe.execute()

    def depth(self) -> int:
        return int(self._queue.count)
