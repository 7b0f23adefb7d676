"""The Redis records that keep a photo's buttons working for days, and image-to-image inputs.

The image id is the photo's job id, whose record (prompt, seed, input image) `JobQueue` wrote
with the job. So the buttons survive restarts of the bot and the worker, and forged data can
only name records that exist.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from pydantic import ValidationError

from bot.requests.jobs import ImageRecord

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis

    from bot.config import PlaySettings
    from common.protocol import Keys

_IMAGE_ID: Final = re.compile(r"[0-9a-f]{32}")


class ImageStore:
    """Image records (written by `JobQueue` with each photo job) and image-to-image inputs."""

    def __init__(self, redis: Redis, keys: Keys, play: PlaySettings) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = play.image_ttl_s

    async def load(self, image_id: str) -> ImageRecord | None:
        if _IMAGE_ID.fullmatch(image_id) is None:
            return None
        raw = await self._redis.get(self._keys.image_record(image_id))
        if raw is None:
            return None
        try:
            return ImageRecord.model_validate_json(raw)
        except ValidationError:
            return None

    async def keep_source(self, name: str, fetch: Callable[[], Awaitable[bytes]]) -> str:
        """Keep an image-to-image input under `name` (the picture's unique id), fetching it
        only when it is not kept already: the same picture edited or sent again is neither
        downloaded nor stored twice, and its days start again. Returns the key jobs name."""
        key = self._keys.source_image(name)
        if await self._redis.expire(key, self._ttl_s):
            return key
        await self._redis.set(key, await fetch(), ex=self._ttl_s)
        return key
