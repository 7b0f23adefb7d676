"""What travels between the bot and the worker through Redis.

The bot enqueues an RQ job (JSON-serialised, never pickle) whose only argument is a
`GenerationRequest` as a dict. The worker answers on a Redis Stream with a `Result`; the bot
reads the stream through a consumer group and acknowledges an entry only once Telegram took
the message, so a result outlives a bot restart.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.config import QueueSettings

JOB_FUNCTION: Final = "worker.jobs.generate"
# Several images, PNG files and image-to-image: never micro-batched with plain photos.
PLAY_FUNCTION: Final = "worker.play.render"
# Torch-free, so the bot can run it too when it sweeps abandoned jobs.
FAILURE_CALLBACK: Final = "common.failures.on_failure"
# The error code of a job that waited in the queue longer than QUEUE_WAIT_S: no worker took it.
NO_WORKER: Final = "no_worker"

# Per-user and per-chat choices (language, chat settings, the licence notice) are kept this
# long after they were last written, so users who left leave nothing behind for good.
CHOICES_KEPT_S: Final = 365 * 86_400
# A chat outside the allow-list is told so again after this long.
TOLD_KEPT_S: Final = 30 * 86_400

MAX_SEED: Final = 2**32 - 1
IMAGE_SIZE: Final = 512
# The largest side the worker makes, and what 🔍 multiplies a picture's sides by.
MAX_SIDE: Final = 1024
UPSCALE_FACTOR: Final = 2
# The refinement's strength, between a step that changes almost nothing and one that redraws.
MIN_UPSCALE_STRENGTH: Final = 0.05
MAX_UPSCALE_STRENGTH: Final = 0.9


class GenerationRequest(BaseModel):
    """One image to make. Validated again by the worker before it touches the GPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(min_length=1, max_length=2_000)
    seed: int = Field(ge=0, le=MAX_SEED)
    width: int = Field(default=IMAGE_SIZE, ge=64, le=MAX_SIDE, multiple_of=8)
    height: int = Field(default=IMAGE_SIZE, ge=64, le=MAX_SIDE, multiple_of=8)
    guidance_scale: float = Field(default=0.0, ge=0.0, le=0.0)
    # PNG for "File" (lossless, as the model made it); JPEG for photos.
    format: Literal["jpeg", "png"] = "jpeg"
    # Redis key of a 512×512 input image for image-to-image; empty for text-to-image.
    source: str = Field(default="", max_length=200)
    # How far the input is noised: SDXL Turbo's 2-step recipe, of which the worker makes the
    # one denoising step that strengths in [0.5, 1) give.
    strength: float = Field(default=0.5, ge=0.5, lt=1.0)
    # Cyrillic parts of the prompt translated to English before drawing (when the worker has
    # a translator); off: the prompt reaches the text encoders exactly as typed.
    translate: bool = True
    # The 2× version (🔍): the picture these fields make, enlarged to twice its size and
    # refined by one image-to-image step at this strength; 0 draws it at its own size.
    upscale: float = Field(default=0.0, ge=0.0, le=MAX_UPSCALE_STRENGTH)

    @model_validator(mode="after")
    def _fits_upscaled(self) -> GenerationRequest:
        if 0 < self.upscale < MIN_UPSCALE_STRENGTH:
            raise ValueError(f"upscale strength must be 0 or at least {MIN_UPSCALE_STRENGTH}")
        if self.upscale and max(self.width, self.height) * UPSCALE_FACTOR > MAX_SIDE:
            raise ValueError(f"an upscaled picture must fit {MAX_SIDE}×{MAX_SIDE}")
        return self

    @property
    def output_size(self) -> tuple[int, int]:
        """Width and height of the image made: twice the drawn size when upscaled."""
        factor = UPSCALE_FACTOR if self.upscale else 1
        return self.width * factor, self.height * factor


class Result(BaseModel):
    """One finished job as written to the results stream."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    status: Literal["ok", "error"]
    image: bytes = b""
    mime: str = "image/jpeg"
    error: str = ""
    generation_ms: float = 0.0
    # Images after the first, for jobs that make several (variations).
    more: tuple[bytes, ...] = ()
    # Per image, in order: the safety classifier's unsafe score and whether it reached the
    # worker's threshold. Empty when the worker checks nothing (SAFETY_MODEL_ID empty).
    scores: tuple[float, ...] = ()
    flagged: tuple[bool, ...] = ()
    # The English text drawn when the prompt was translated; empty when drawn as typed.
    drawn: str = ""

    @property
    def images(self) -> list[bytes]:
        return [self.image, *self.more]

    def is_flagged(self, index: int) -> bool:
        """Whether image `index` was flagged; unchecked images never are."""
        return index < len(self.flagged) and self.flagged[index]

    def to_fields(self) -> dict[str, bytes | str | float]:
        fields: dict[str, bytes | str | float] = {
            "job_id": self.job_id,
            "status": self.status,
            "image": self.image,
            "mime": self.mime,
            "error": self.error,
            "generation_ms": self.generation_ms,
        }
        # Numbered fields keep single-image entries exactly as older bots read them.
        for index, data in enumerate(self.more, start=1):
            fields[f"image.{index}"] = data
        if self.drawn:
            fields["drawn"] = self.drawn
        if self.flagged:
            # Written only when checked, so older bots read the entry exactly as before.
            fields["scores"] = ",".join(f"{score:.4f}" for score in self.scores)
            fields["flagged"] = "".join("1" if flag else "0" for flag in self.flagged)
        return fields

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Result:
        def text(key: str) -> str:
            return fields.get(key.encode(), b"").decode("utf-8", "replace")

        return cls(
            job_id=text("job_id"),
            status="ok" if text("status") == "ok" else "error",
            image=fields.get(b"image", b""),
            mime=text("mime") or "image/jpeg",
            error=text("error"),
            generation_ms=float(text("generation_ms") or 0.0),
            more=tuple(_numbered(fields)),
            scores=_scores(text("scores")),
            flagged=tuple(flag == "1" for flag in text("flagged")),
            drawn=text("drawn"),
        )


def _scores(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part)
    except ValueError:
        return ()


def _numbered(fields: dict[bytes, bytes]) -> list[bytes]:
    out: list[bytes] = []
    while (data := fields.get(f"image.{len(out) + 1}".encode())) is not None:
        out.append(data)
    return out


class Keys:
    """Every Redis key the project writes, under one prefix so a shared Redis stays tidy.

    RQ's own keys (its queue list, registries) are RQ's; `queue` names the list RQ keeps
    waiting job ids in, because the bot reads positions from it.
    """

    def __init__(self, queue: QueueSettings) -> None:
        self.prefix = queue.key_prefix
        self.queue = f"rq:queue:{queue.queue_name}"

    def _key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    @property
    def results(self) -> str:
        """The stream of finished jobs, read by the bot's consumer group."""
        return self._key("results")

    def job_context(self, job_id: str) -> str:
        """Who asked for a job and where its answer goes (`bot.requests.jobs.JobContext`)."""
        return self._key("job", job_id)

    def answer(self, job_id: str) -> str:
        """Claimed by the first result of a job: one job, one answer."""
        return self._key("answer", job_id)

    def image_record(self, image_id: str) -> str:
        """What the buttons under a photo need: prompt, seed, input image."""
        return self._key("image", image_id)

    def edits(self, chat_id: int, message_id: int) -> str:
        """Hash of a user's prompt message: edits seen, and the photo answering it."""
        return self._key("edits", chat_id, message_id)

    def source_image(self, image_id: str) -> str:
        """An image-to-image input, already cropped to 512×512."""
        return self._key("source", image_id)

    @property
    def inbox(self) -> str:
        """The stream of received updates, read by the bot's consumer group."""
        return self._key("inbox")

    def inbox_seen(self, update: str) -> str:
        """Set when an update ("bot id:update id") entered the inbox: it enters once."""
        return self._key("seen", update)

    def update_job(self, update: str) -> str:
        """The job an update asked for, written with the job: one update, one job."""
        return self._key("update", update)

    def pace(self, scope: str) -> str:
        """One send window of the outbound pacer: "all", "chat:{id}" or "group:{id}"."""
        return self._key("pace", scope)

    def pace_hold(self, scope: str) -> str:
        """Set while Telegram asked to wait (429) for "all" or "chat:{id}"."""
        return self._key("pace-hold", scope)

    @property
    def status(self) -> str:
        """Hash of "In queue: #N" messages by job id."""
        return self._key("status")

    def daily_window(self, kind: str, ident: int) -> str:
        """Sorted set of a user's ("user") or group's ("group") requests in the last 24 h."""
        return self._key("daily", kind, ident)

    def rate_window(self, kind: str, ident: int) -> str:
        """Sorted set of the requests a user ("user") or group ("group") made lately."""
        return self._key("rate", kind, ident)

    @property
    def workers(self) -> str:
        """Sorted set of worker names, scored by their last beat (Redis time, ms)."""
        return self._key("workers")

    @property
    def queued_since(self) -> str:
        """Sorted set of queued job ids, scored by when a sweep first saw them waiting."""
        return self._key("queued-since")

    def inflight(self, user_id: int) -> str:
        """Sorted set of a user's queued or running job ids."""
        return self._key("inflight", user_id)

    def refused(self, user_id: int) -> str:
        """Set while a user was told about a refusal lately."""
        return self._key("refused", user_id)

    def refused_chat(self, chat_id: int) -> str:
        """The same for a group: one refusal per interval in the whole chat."""
        return self._key("refused-chat", chat_id)

    def inline_latest(self, user_id: int) -> str:
        """Hash: the update id (`revision`) of a user's newest inline query, for the debounce."""
        return self._key("inline-newest", user_id)

    @property
    def banned(self) -> str:
        return self._key("banned")

    @property
    def paused(self) -> str:
        return self._key("paused")

    def noticed(self, user_id: int) -> str:
        """Set once a user has seen the first-use licence notice."""
        return self._key("noticed", user_id)

    def locale(self, user_id: int) -> str:
        return self._key("locale", user_id)

    def chat_settings(self, chat_id: int) -> str:
        """A chat's own settings (safety policy, who may draw, rate, language) as JSON."""
        return self._key("chat", chat_id)

    def consumer_lease(self, name: str) -> str:
        """Held by the one live bot process reading under consumer `name`."""
        return self._key("consumer", name)

    def no_ephemeral(self, chat_id: int) -> str:
        """Set while a group's Bot API server refused ephemeral messages (`EPHEMERAL=auto`)."""
        return self._key("no-ephemeral", chat_id)

    def replied(self, chat_id: int, kind: str) -> str:
        """Set while a chat was given an answer of `kind` (/help, a hint) lately."""
        return self._key("replied", chat_id, kind)

    def told(self, chat_id: int) -> str:
        """Set once a chat outside the allow-list has been told so."""
        return self._key("told", chat_id)

    def stats(self, status: str, minute: int) -> str:
        """Results of one status ("ok", "error") in one minute, for /stats."""
        return self._key("stats", status, minute)
