"""Putting generation jobs on the RQ queue, with the record of who asked for them."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from redis.exceptions import WatchError
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from bot.shared.origin import Origin
from bot.shared.styles import Style
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
    from redis.client import Pipeline

    from bot.community.chat_settings import ChatSettingsStore
    from bot.config import DeliverySettings, PlaySettings
    from common.config import QueueSettings


Action = Literal["photo", "file", "album", "inline"]


class JobContext(BaseModel):
    """Where a job's result goes. Stored by the bot only; the worker never sees it."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    origin: Origin
    prompt: str
    # One seed per image: one for a photo or a file, several for an album or inline answer.
    seeds: tuple[int, ...]
    enqueued_at: float
    # photo: a photo with buttons; file: a PNG document; album: several photos, one per seed;
    # inline: the images answer an inline query, uploaded first to the storage chat.
    action: Action = "photo"
    # Redis key of the image-to-image input; empty for text-to-image.
    source: str = ""
    inline_query_id: str = ""
    # The chat's choice when the job was queued: Cyrillic text translated before drawing.
    translate: bool = True
    # The style preset the prompt is drawn through (kept whole: the photo's buttons and
    # caption keep it even if STYLES_FILE changes later).
    style: Style | None = None
    # The 2× version (🔍) at this refinement strength; 0: the picture at its own size.
    upscale: float = 0.0

    @property
    def editable(self) -> bool:
        """A single photo answering the user's own message: their edits replace it in place."""
        return self.origin.editable and self.action == "photo" and not self.upscaled

    @property
    def upscaled(self) -> bool:
        """The 2× version of a picture (🔍)."""
        return self.upscale > 0

    @property
    def seed(self) -> int:
        return self.seeds[0]

    @property
    def chat_id(self) -> int:
        return self.origin.chat_id

    @property
    def locale(self) -> str:
        return self.origin.locale

    def requests(self) -> list[GenerationRequest]:
        """What the worker is asked to make: one request per seed."""
        return [
            GenerationRequest(
                prompt=self.style.apply(self.prompt) if self.style is not None else self.prompt,
                seed=seed,
                format="png" if self.action == "file" else "jpeg",
                source=self.source,
                translate=self.translate,
                upscale=self.upscale,
            )
            for seed in self.seeds
        ]


class ImageRecord(BaseModel):
    """What the buttons under a photo need to make it again, or a variation of it."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    seed: int
    source: str = ""
    # The chat the photo was sent to: its buttons work there only (0: none, they never do).
    chat_id: int = 0
    style: Style | None = None
    # A 2× photo's refinement strength (its 📄 file is the same 2× picture); 0 for others.
    upscale: float = 0.0


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def new_job_id() -> str:
    return uuid.uuid4().hex


def job_id_for(origin: Origin) -> str:
    """The same update always names the same job, so handling it again changes nothing:
    the in-flight slot, the input picture and the job record are all keyed by it."""
    return update_job_id(origin.update) if origin.update else new_job_id()


def update_job_id(update: str) -> str:
    """The job id of the update named `update` (`update_key`): 32 hex digits, like any
    other job id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"telegram-update:{update}").hex


class JobQueue:
    """Enqueues jobs by import path, so the bot never imports the worker (or torch)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        queue: QueueSettings,
        delivery: DeliverySettings,
        play: PlaySettings,
        chats: ChatSettingsStore | None = None,
    ) -> None:
        self._redis = redis
        # Each chat's prompt translation switch; None: every prompt translated.
        self._chats = chats
        self._settings = queue
        self._keys = keys
        self._context_ttl_s = delivery.context_ttl_s
        self._image_ttl_s = play.image_ttl_s
        self._queue = Queue(queue.queue_name, connection=redis, serializer=JSONSerializer)

    async def submit(self, context: JobContext) -> bool:
        """Enqueue the job with its record, under the chat's translation switch as it is now;
        False when its update already has a job. RQ's client runs off the event loop."""
        if self._chats is not None:
            translate = await self._chats.translates_in(context.chat_id)
            context = context.model_copy(update={"translate": translate})
        return await asyncio.to_thread(self._enqueue_once, context)

    def _update_key(self, origin: Origin) -> str:
        return self._keys.update_job(origin.update)

    def _enqueue_once(self, context: JobContext) -> bool:
        if not context.origin.update:
            with self._redis.pipeline() as pipe:
                self._enqueue(context, pipe)
                pipe.execute()
            return True
        marker = self._update_key(context.origin)
        while True:
            with self._redis.pipeline() as pipe:
                try:
                    # WATCH: a second handler of the same update racing this one fails here.
                    pipe.watch(marker)  # type: ignore[no-untyped-call]
                    if pipe.exists(marker):
                        return False
                    pipe.multi()
                    pipe.set(marker, context.job_id, ex=self._context_ttl_s)
                    self._enqueue(context, pipe)
                    pipe.execute()
                    return True
                except WatchError:
                    continue

    def _enqueue(self, context: JobContext, pipe: Pipeline) -> None:
        """Queue the job and its records on `pipe`, one MULTI: all of it lands or none."""
        requests = context.requests()
        # A lone text-to-image photo takes the micro-batched fast path; the rest run on their own.
        plain = context.action == "photo" and not context.source and not context.upscaled
        kwargs: dict[str, Any]
        if plain:
            function, kwargs = JOB_FUNCTION, {"request": requests[0].model_dump()}
        else:
            function, kwargs = PLAY_FUNCTION, {"requests": [r.model_dump() for r in requests]}
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
        pipe.set(
            self._keys.job_context(context.job_id),
            context.model_dump_json(),
            ex=self._context_ttl_s,
        )
        if context.action == "photo":
            # Written with the job, so the photo's buttons work whenever it arrives.
            record = ImageRecord(
                prompt=context.prompt,
                seed=context.seed,
                source=context.source,
                chat_id=context.chat_id,
                style=context.style,
                upscale=context.upscale,
            )
            pipe.set(
                self._keys.image_record(context.job_id),
                record.model_dump_json(),
                ex=self._image_ttl_s,
            )
            if context.source:
                pipe.expire(context.source, self._image_ttl_s)

    def depth(self) -> int:
        return int(self._queue.count)
