"""The buttons under a photo: regenerate, variations, the same image as a file.

A press is a request like a typed prompt (`ImagineService.request`), so the person who
presses is held to the same limits: the presser, not the photo's author.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from bot import texts
from bot.services.admission import Refused
from bot.services.images import VARIATIONS
from bot.services.imagine import Ask

if TYPE_CHECKING:
    from bot.services.images import ButtonAction, ImageButton, ImageStore
    from bot.services.imagine import ImagineService, Queued
    from bot.services.jobs import Action
    from bot.services.origin import Origin

# Variations count as one request against the rate limits: one tap, one album.
_ACTIONS: Final[dict[ButtonAction, tuple[Action, int]]] = {
    "r": ("photo", 1),
    "v": ("album", VARIATIONS),
    "f": ("file", 1),
}


class PlayService:
    def __init__(self, imagine: ImagineService, images: ImageStore) -> None:
        self._imagine = imagine
        self._images = images

    async def press(self, button: ImageButton, origin: Origin) -> Queued | Refused:
        """Regenerate, variations or file for the photo the button sits under."""
        record = await self._images.load(button.image)
        if record is None:
            return Refused(texts.STALE_BUTTON)
        action, count = _ACTIONS[button.action]
        # The file is the very same image: same seed, same input; the others draw new seeds.
        seed = record.seed if action == "file" else None
        ask = Ask(origin, record.prompt, action, count, seed=seed, source=record.source)
        return await self._imagine.request(ask)
