"""The buttons under a photo, and the Redis records that keep them working for days.

A button's callback data is only `img:<action>:<image id>` (at most 38 bytes, under Telegram's
64); the image id is the photo's job id, whose record (prompt, seed, input image) the bot wrote
with the job. So the buttons survive restarts of the bot and the worker, and forged data can
only name records that exist.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import ValidationError

from bot import texts
from bot.services.jobs import ImageRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis

    from bot.config import PlaySettings
    from common.protocol import Keys

ButtonAction = Literal["r", "v", "f"]
_IMAGE_ID: Final = re.compile(r"[0-9a-f]{32}")
# Variations: four new seeds, sent as one album.
VARIATIONS: Final = 4


class ImageButton(CallbackData, prefix="img"):
    """r: regenerate (new seed), v: variations (four seeds), f: the same image as a PNG file."""

    action: ButtonAction
    image: str


def image_keyboard(image_id: str, translate: Callable[[str], str]) -> InlineKeyboardMarkup:
    def button(text: str, action: ButtonAction) -> InlineKeyboardButton:
        data = ImageButton(action=action, image=image_id).pack()
        return InlineKeyboardButton(text=translate(text), callback_data=data)

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(texts.BUTTON_REGENERATE, "r"),
                button(texts.BUTTON_VARIATIONS, "v"),
                button(texts.BUTTON_FILE, "f"),
            ]
        ]
    )


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

    async def save_source(self, image_id: str, data: bytes) -> str:
        """Keep an image-to-image input; returns the key the job names."""
        key = self._keys.source_image(image_id)
        await self._redis.set(key, data, ex=self._ttl_s)
        return key
