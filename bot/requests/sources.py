"""Image-to-image inputs: the picture a message carries, downloaded, checked and cropped.

The input is cut to 512×512 here, once, so what Redis keeps for the buttons (days) is a small
JPEG (at most `MAX_SOURCE_BYTES`, kept once per distinct picture: `ImageStore.keep_source`),
and every later "regenerate" or "file" starts from exactly the same pixels.

Decoding is bounded, as anyone can send a small file that decodes to gigabytes: a picture of
more than `MAX_INPUT_PIXELS` is refused as too large before it is decoded (Pillow's own bomb
check is set to the same limit), a JPEG is decoded at the smallest scale that still covers
the crop (`draft`: a 24 MP photo costs a sixteenth of its full size), and at most
`DECODES_AT_ONCE` pictures are decoded at a time, whatever the thread pool would allow.
"""

from __future__ import annotations

import asyncio
import io
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiogram.exceptions import AiogramError
from PIL import Image, ImageOps, UnidentifiedImageError

from bot import texts
from common.protocol import IMAGE_SIZE

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import Message

    from bot.config import PlaySettings

DECODES_AT_ONCE: Final = 2
# What one image-to-image input may cost in Redis, and the JPEG qualities tried to get there
# (pure noise fits at 10).
MAX_SOURCE_BYTES: Final = 48 * 1024
QUALITIES: Final = (90, 80, 70, 60, 50, 40, 30, 20, 10, 5)
_DECODING = threading.BoundedSemaphore(DECODES_AT_ONCE)


@dataclass(frozen=True, slots=True)
class Picture:
    """A file a message carries that may be an image."""

    file_id: str
    size: int | None
    mime: str | None
    # Telegram's id of the file itself, the same for everyone and across bots' file ids:
    # one kept input per distinct picture, however often it is edited or pressed.
    unique_id: str = ""


class SourceError(Exception):
    """A picture the bot cannot use, with the text the user is told."""

    def __init__(self, text: str, values: dict[str, Any] | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.values = values or {}


def picture_of(message: Message | None) -> Picture | None:
    """The largest photo size, or a document (any file: checked once downloaded)."""
    if message is None:
        return None
    if message.photo:
        largest = message.photo[-1]
        return Picture(largest.file_id, largest.file_size, "image/jpeg", largest.file_unique_id)
    if message.document:
        document = message.document
        return Picture(
            document.file_id, document.file_size, document.mime_type, document.file_unique_id
        )
    return None


def _too_large(max_bytes: int) -> SourceError:
    return SourceError(texts.INPUT_TOO_LARGE, {"megabytes": f"{max_bytes / 1_000_000:g}"})


def _too_many_pixels(max_pixels: int) -> SourceError:
    return SourceError(texts.INPUT_TOO_MANY_PIXELS, {"megapixels": f"{max_pixels / 1e6:g}"})


async def fetch_source(bot: Bot, picture: Picture, play: PlaySettings) -> bytes:
    """Download and normalise the picture to a 512×512 JPEG, or raise `SourceError`."""
    max_bytes = play.max_input_bytes
    if picture.size is not None and picture.size > max_bytes:
        raise _too_large(max_bytes)
    if picture.mime and not picture.mime.startswith("image/"):
        raise SourceError(texts.INPUT_NOT_IMAGE)
    try:
        file = await bot.get_file(picture.file_id)
        if file.file_size is not None and file.file_size > max_bytes:
            raise _too_large(max_bytes)
        if file.file_path is None:
            raise SourceError(texts.INPUT_BROKEN)
        buffer = await bot.download_file(file.file_path, destination=io.BytesIO())
    except (TimeoutError, AiogramError, OSError) as exc:
        raise SourceError(texts.INPUT_BROKEN) from exc
    data = buffer.getvalue() if isinstance(buffer, io.BytesIO) else b""
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return await asyncio.to_thread(normalise, data, play.max_input_pixels)


def normalise(data: bytes, max_pixels: int) -> bytes:
    """Resize and centre-crop to 512×512 RGB, as a high-quality JPEG."""
    # Pillow warns past its limit and raises past twice it; the check below refuses at the
    # limit itself, before anything is decoded.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > max_pixels:
                raise _too_many_pixels(max_pixels)
            probe.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning is an exception only where warnings are made errors; either way the
        # picture is over the limit.
        raise _too_many_pixels(max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise SourceError(texts.INPUT_NOT_IMAGE) from exc
    except SourceError:
        raise
    except Exception as exc:  # Pillow raises many types for damaged files
        raise SourceError(texts.INPUT_BROKEN) from exc
    with _DECODING:
        return _fit(data, max_pixels)


def _fit(data: bytes, max_pixels: int) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale while that still covers the crop.
            opened.draft("RGB", (IMAGE_SIZE, IMAGE_SIZE))
            image = ImageOps.exif_transpose(opened).convert("RGB")
        fitted = ImageOps.fit(image, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
        encoded = _encode(fitted)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(max_pixels) from exc
    except Exception as exc:
        raise SourceError(texts.INPUT_BROKEN) from exc
    return encoded


def _encode(image: Image.Image) -> bytes:
    """The best JPEG quality that fits `MAX_SOURCE_BYTES`: a photo fits at 90, only noise
    needs less. The input is kept in Redis for days, once per distinct picture."""
    for quality in QUALITIES:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        if out.tell() <= MAX_SOURCE_BYTES:
            break
    return out.getvalue()
