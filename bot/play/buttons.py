"""The buttons under a photo: regenerate, variations, the same image as a file.

A button's callback data is only `img:<action>:<image id>` (at most 38 bytes, under Telegram's
64); the image id names the record `ImageStore` keeps (`bot/requests/images.py`).

A press is a request like a typed prompt (`ImagineService.request`), so the person who
presses is held to the same limits: the presser, not the photo's author.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts
from bot.requests.admission import Refused
from bot.requests.imagine import Ask

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.requests.images import ImageStore
    from bot.requests.imagine import ImagineService, Queued
    from bot.requests.jobs import Action
    from bot.shared.origin import Origin

ButtonAction = Literal["r", "v", "f"]
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
        # A button works under its own photo only: data copied into a button in another chat
        # (a modified client can send any) names a record that is not that chat's.
        if record is None or record.chat_id != origin.chat_id:
            return Refused(texts.STALE_BUTTON)
        action, count = _ACTIONS[button.action]
        # The file is the very same image: same seed, same input; the others draw new seeds.
        seed = record.seed if action == "file" else None
        ask = Ask(
            origin,
            record.prompt,
            action,
            count,
            seed=seed,
            source=record.source,
            style=record.style,
            keep_style=True,
        )
        return await self._imagine.request(ask)
