"""What the bot keeps about a user's prompt message so that editing it redraws its picture.

One Redis hash per prompt message (`Keys.edits`), kept for `EDIT_WINDOW_S`:
- `revision`: the newest edit of the message the bot has seen (its update id, see `Origin`).
  Each job's `Origin` names the revision it draws; a result for an older one is dropped, so a
  slow result never overwrites the picture of a newer edit.
- `photo`, `seed`, `image`: the bot's photo answering the message, its seed (an edit is drawn
  with it again), and the image id its buttons name. Written once the photo is delivered, so
  a message that got no picture (refused, a usage hint) has none, and its edit gets a new photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.config import EditSettings
    from bot.requests.jobs import JobContext
    from bot.shared.origin import Origin
    from common.protocol import Keys


# Handlers run concurrently, so edits (and inline queries) may be noted out of order: the
# newest by update id wins, atomically. Returns the newest revision noted.
NOTE_NEWEST: Final = """
local newest = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
if tonumber(ARGV[1]) > newest then
    redis.call('HSET', KEYS[1], 'revision', ARGV[1])
    newest = tonumber(ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return newest
"""


@dataclass(frozen=True, slots=True)
class InPlace:
    """The bot's photo that an edited prompt's picture replaces, and the image id its
    buttons name (the job id of the photo as first sent)."""

    message_id: int
    image_id: str


@dataclass(frozen=True, slots=True)
class EditRecord:
    revision: int = 0
    photo: int = 0  # 0 while no photo answers the message
    seed: int | None = None
    image: str = ""

    @property
    def in_place(self) -> InPlace | None:
        return InPlace(self.photo, self.image) if self.photo and self.image else None


def _int(raw: bytes | None) -> int:
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


class EditRecords:
    def __init__(self, redis: Redis, keys: Keys, settings: EditSettings) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = settings.edit_window_s
        self._note_edit = redis.register_script(NOTE_NEWEST)

    async def load(self, origin: Origin) -> EditRecord:
        key = self._keys.edits(origin.chat_id, origin.message_id)
        raw: dict[bytes, bytes] = await self._redis.hgetall(key)  # type: ignore[assignment]
        return EditRecord(
            revision=_int(raw.get(b"revision")),
            photo=_int(raw.get(b"photo")),
            seed=_int(raw[b"seed"]) if b"seed" in raw else None,
            image=raw.get(b"image", b"").decode(errors="replace"),
        )

    async def note_edit(self, origin: Origin) -> int:
        """Record the edit `origin` names; returns the newest revision seen so far."""
        key = self._keys.edits(origin.chat_id, origin.message_id)
        newest = await self._note_edit(keys=[key], args=[origin.revision, self._ttl_s])
        return int(newest)

    async def placed(self, context: JobContext, message_id: int, in_place: InPlace | None) -> None:
        """Remember the photo now answering the message; an edit in place keeps the buttons'
        image id, whose record now holds the new prompt, seed and input."""
        image_id = in_place.image_id if in_place is not None else context.job_id
        key = self._keys.edits(context.chat_id, context.origin.message_id)
        fields: list[str | int] = ["photo", message_id, "seed", context.seed, "image", image_id]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, items=fields)
            pipe.expire(key, self._ttl_s)
            if image_id != context.job_id:
                # Written with the job (`JobQueue`), with the buttons' lifetime.
                image_records = self._keys.image_record
                pipe.copy(image_records(context.job_id), image_records(image_id), replace=True)
            await pipe.execute()
