"""Iterating on a picture: the buttons under a photo, and pictures turned into new ones.

Every path goes through `ImagineService.admit`, so the person who presses a button (or sends a
picture) is held to the same limits as a typed prompt: the presser, not the photo's author.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final

from bot import texts
from bot.services.images import VARIATIONS
from bot.services.imagine import Queued, Refused
from bot.services.sources import SourceError, fetch_source

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.config import PlaySettings
    from bot.services.images import ButtonAction, ImageButton, ImageStore
    from bot.services.imagine import Admitted, ImagineService
    from bot.services.jobs import Action
    from bot.services.sources import Picture

# Variations count as one request against the rate limits: one tap, one album.
_ACTIONS: Final[dict[ButtonAction, tuple[Action, int]]] = {
    "r": ("photo", 1),
    "v": ("album", VARIATIONS),
    "f": ("file", 1),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Where:
    """Who asks, and the message the answer replies to."""

    user_id: int
    chat_id: int
    message_id: int
    group: bool
    locale: str


class PlayService:
    def __init__(self, imagine: ImagineService, images: ImageStore, settings: PlaySettings):
        self._imagine = imagine
        self._images = images
        self._settings = settings

    async def _admit(self, prompt: str | None, where: Where) -> Admitted | Refused:
        return await self._imagine.admit(
            prompt, user_id=where.user_id, chat_id=where.chat_id, group=where.group
        )

    async def press(self, button: ImageButton, where: Where) -> Queued | Refused:
        """Regenerate, variations or file for the photo the button sits under."""
        record = await self._images.load(button.image)
        if record is None:
            return Refused(texts.STALE_BUTTON)
        admitted = await self._admit(record.prompt, where)
        if isinstance(admitted, Refused):
            return admitted
        action, count = _ACTIONS[button.action]
        # The file is the very same image: same seed, same input; the others draw new seeds.
        admitted = dataclasses.replace(admitted, seed=record.seed if action == "file" else None)
        return await self._imagine.enqueue(
            admitted,
            chat_id=where.chat_id,
            message_id=where.message_id,
            locale=where.locale,
            action=action,
            count=count,
            source=record.source,
        )

    async def transform(
        self, bot: Bot, picture: Picture, prompt: str | None, where: Where
    ) -> Queued | Refused:
        """Image-to-image: admit the prompt first, so refused requests download nothing."""
        admitted = await self._admit(prompt, where)
        if isinstance(admitted, Refused):
            return admitted
        try:
            data = await fetch_source(bot, picture, self._settings.max_input_bytes)
            source = await self._images.save_source(admitted.job_id, data)
        except SourceError as exc:
            await self._imagine.release(admitted)
            return Refused(exc.text, exc.values)
        except BaseException:
            await self._imagine.release(admitted)
            raise
        return await self._imagine.enqueue(
            admitted,
            chat_id=where.chat_id,
            message_id=where.message_id,
            locale=where.locale,
            source=source,
        )
