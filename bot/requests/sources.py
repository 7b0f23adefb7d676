"""Image-to-image inputs: the picture a message carries, downloaded, checked and cropped.

The input is cut to 512×512 here, once, so what Redis keeps for the buttons (days) is a small
JPEG, and every later "regenerate" or "file" starts from exactly the same pixels.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiogram.exceptions import AiogramError
from PIL import Image, ImageOps, UnidentifiedImageError

from bot import texts
from common.protocol import IMAGE_SIZE

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import Message

# Far beyond any photo, far below what it takes to exhaust memory while decoding.
MAX_PIXELS: Final = 40_000_000


@dataclass(frozen=True, slots=True)
class Picture:
    """A file a message carries that may be an image."""

    file_id: str
    size: int | None
    mime: str | None


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
        return Picture(largest.file_id, largest.file_size, "image/jpeg")
    if message.document:
        document = message.document
        return Picture(document.file_id, document.file_size, document.mime_type)
    return None


def _too_large(max_bytes: int) -> SourceError:
    return SourceError(texts.INPUT_TOO_LARGE, {"megabytes": f"{max_bytes / 1_000_000:g}"})


async def fetch_source(bot: Bot, picture: Picture, max_bytes: int) -> bytes:
    """Download and normalise the picture to a 512×512 JPEG, or raise `SourceError`."""
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
    return await asyncio.to_thread(normalise, data, max_bytes)


def normalise(data: bytes, max_bytes: int) -> bytes:
    """Resize and centre-crop to 512×512 RGB, as a high-quality JPEG."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise _too_large(max_bytes)
            probe.verify()
    except UnidentifiedImageError as exc:
        raise SourceError(texts.INPUT_NOT_IMAGE) from exc
    except SourceError:
        raise
    except Exception as exc:  # Pillow raises many types for damaged files
        raise SourceError(texts.INPUT_BROKEN) from exc
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        fitted = ImageOps.fit(image, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        fitted.save(out, format="JPEG", quality=95)
    except Exception as exc:
        raise SourceError(texts.INPUT_BROKEN) from exc
    return out.getvalue()
