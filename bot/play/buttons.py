"""The buttons under a photo: regenerate, variations, the same image as a file or at 2×.

A button's callback data is only `img:<action>:<image id>` (at most 38 bytes, under Telegram's
64); the image id names the record `ImageStore` keeps (`bot/requests/images.py`).

A press is a request like a typed prompt (`ImagineService.request`), so the person who
presses is held to the same limits: the presser, not the photo's author.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot import texts
from bot.requests.admission import Refused
from bot.requests.imagine import Ask

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.config import PlaySettings
    from bot.requests.images import ImageStore
    from bot.requests.imagine import ImagineService, Queued
    from bot.requests.jobs import Action
    from bot.shared.origin import Origin

ButtonAction = Literal["r", "v", "f", "u"]
# Variations: four new seeds, sent as one album.
VARIATIONS: Final = 4


class ImageButton(CallbackData, prefix="img"):
    """r: regenerate (new seed), v: variations (four seeds), f: the same image as a PNG file,
    u: the same image at twice its size (🔍)."""

    action: ButtonAction
    image: str


def image_keyboard(
    image_id: str, translate: Callable[[str], str], upscaled: bool = False
) -> InlineKeyboardMarkup:
    """The buttons under a photo; a 2× photo has its file only (it is already the big one,
    and a new seed or variations are the small photo's to offer)."""

    def button(text: str, action: ButtonAction) -> InlineKeyboardButton:
        data = ImageButton(action=action, image=image_id).pack()
        return InlineKeyboardButton(text=translate(text), callback_data=data)

    if upscaled:
        return InlineKeyboardMarkup(inline_keyboard=[[button(texts.BUTTON_FILE, "f")]])
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(texts.BUTTON_REGENERATE, "r"),
                button(texts.BUTTON_VARIATIONS, "v"),
                button(texts.BUTTON_FILE, "f"),
            ],
            [button(texts.BUTTON_UPSCALE, "u")],
        ]
    )


def image_of(message: Message | None) -> str:
    """The image id behind the buttons of one of the bot's photos (what `/upscale` replies
    to), or empty when the message has none of them. Only the bot puts callback data on a
    message, and the record it names is checked against the chat like any press."""
    markup = message.reply_markup if message is not None else None
    for row in markup.inline_keyboard if markup is not None else []:
        for button in row:
            data = button.callback_data or ""
            if data.startswith(f"{ImageButton.__prefix__}:"):
                try:
                    return ImageButton.unpack(data).image
                except (TypeError, ValueError):
                    continue
    return ""


# Variations count as one request against the rate limits: one tap, one album.
_ACTIONS: Final[dict[ButtonAction, tuple[Action, int]]] = {
    "r": ("photo", 1),
    "v": ("album", VARIATIONS),
    "f": ("file", 1),
    "u": ("photo", 1),
}


class PlayService:
    def __init__(self, imagine: ImagineService, images: ImageStore, play: PlaySettings) -> None:
        self._imagine = imagine
        self._images = images
        self._upscale = play.upscale_strength

    async def press(self, button: ImageButton, origin: Origin) -> Queued | Refused:
        """Regenerate, variations, file or 2× for the photo the button sits under (or the
        photo `/upscale` replies to: the answer replies to that photo)."""
        record = await self._images.load(button.image)
        # A button works under its own photo only: data copied into a button in another chat
        # (a modified client can send any) names a record that is not that chat's.
        if record is None or record.chat_id != origin.chat_id:
            return Refused(texts.STALE_BUTTON)
        if button.action == "u" and record.upscale:
            return Refused(texts.ALREADY_UPSCALED)
        action, count = _ACTIONS[button.action]
        # The file and the 2× are the very same image: same seed, same input; the others
        # draw new seeds. A 2× photo's file is its 2× picture again, at its own strength.
        same = button.action in ("f", "u")
        upscale = self._upscale if button.action == "u" else record.upscale if same else 0.0
        ask = Ask(
            origin,
            record.prompt,
            action,
            count,
            seed=record.seed if same else None,
            source=record.source,
            style=record.style,
            keep_style=True,
            upscale=upscale,
        )
        return await self._imagine.request(ask)
