"""Putting generation jobs on the RQ queue, with the record of who asked for them.

A job goes to Redis in one script call, atomically with everything that belongs to it: the
update's marker (`update:`, set only if absent, so a second handler of the same update queues
nothing), RQ's own commands for the job and its place in the queue (RQ writes them onto a
pipeline that is never sent; the script runs them), the job's record, the photo's record and
the user's licence-notice marker. One round trip on the event loop, where RQ's client would
need three (WATCH, EXISTS, MULTI) on a thread.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from bot.shared.origin import Origin
from bot.shared.styles import Style
from common.protocol import (
    CHOICES_KEPT_S,
    FAILURE_CALLBACK,
    JOB_FUNCTION,
    MAX_SEED,
    PLAY_FUNCTION,
    GenerationRequest,
    Keys,
)

if TYPE_CHECKING:
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis
    from redis.client import Pipeline

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


# KEYS[1]: the user's licence-notice marker; KEYS[2], for a job from an update: its marker.
# ARGV: the job id, the markers' lifetimes, then each command as its argument count followed
# by its arguments. Returns -1 when the update already has its job (nothing written), else 1
# for the user's first job, 0 for the others. The commands' keys are not declared: the bot
# runs against one Redis, not a cluster.
_ENQUEUE: Final = """
if KEYS[2] and not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return -1
end
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[3]) then
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Submitted:
    # False: the update was handled before and already has its job; nothing was written.
    fresh: bool
    # The user's first job ever (within CHOICES_KEPT_S): the licence notice is due.
    first_use: bool = False


class JobQueue:
    """Enqueues jobs by import path, so the bot never imports the worker (or torch)."""

    def __init__(
        self,
        redis: AsyncRedis,
        rq_redis: Redis,
        keys: Keys,
        queue: QueueSettings,
        delivery: DeliverySettings,
        play: PlaySettings,
    ) -> None:
        self._redis = redis
        self._enqueue_script = redis.register_script(_ENQUEUE)
        # RQ's own client: it builds jobs and writes their commands onto a pipeline of it,
        # which is never sent. Only `depth` (for /stats) uses it to talk to Redis.
        self._rq_redis = rq_redis
        self._settings = queue
        self._keys = keys
        self._context_ttl_s = delivery.context_ttl_s
        self._image_ttl_s = play.image_ttl_s
        self._queue = Queue(queue.queue_name, connection=rq_redis, serializer=JSONSerializer)

    async def submit(self, context: JobContext) -> Submitted:
        """Enqueue the job with its records in one atomic call; not fresh when its update
        already has a job."""
        if self._queue.redis_server_version is None:
            # What RQ would ask for on its own client, blocking the loop, at the first job.
            version = str((await self._redis.info("server"))["redis_version"])
            major, minor, patch = ([int(part) for part in version.split(".")[:3]] + [0, 0])[:3]
            self._queue.redis_server_version = (major, minor, patch)
        commands = self._commands(context)
        keys = [self._keys.noticed(context.origin.user_id)]
        if context.origin.update:
            keys.append(self._keys.update_job(context.origin.update))
        args: list[Any] = [context.job_id, self._context_ttl_s, CHOICES_KEPT_S]
        for command in commands:
            args += [len(command), *command]
        outcome = int(await self._enqueue_script(keys=keys, args=args))
        return Submitted(fresh=outcome >= 0, first_use=outcome == 1)

    def _commands(self, context: JobContext) -> list[tuple[Any, ...]]:
        """Every command that queues the job, as RQ and `_enqueue` write them."""
        with self._rq_redis.pipeline(transaction=True) as pipe:
            self._enqueue(context, pipe)
            return [args for args, _ in pipe.command_stack]

    def _enqueue(self, context: JobContext, pipe: Pipeline) -> None:
        """Write the job, its place in the queue and its records onto `pipe` (never sent:
        `submit` runs the commands in its script)."""
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
