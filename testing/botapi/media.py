"""Files and media objects: PhotoSize arrays decoded with Pillow, Document, Video, Audio."""

from __future__ import annotations

import io
import mimetypes
import os

from PIL import Image

from .core import JSON, ApiError, ApiRequest, Upload
from .state import BotState, StoredFile

# Telegram keeps the original (capped at 2560px) plus thumbnails bounded by these sides.
THUMBNAIL_SIDES = (90, 320, 800, 1280)
MAX_PHOTO_SIDE = 2560


def file_object(stored: StoredFile) -> JSON:
    """The File returned by getFile."""
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_path": stored.file_path,
    }


def _size(stored: StoredFile, width: int, height: int) -> JSON:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "width": width,
        "height": height,
        "file_size": len(stored.data),
    }


def store_photo(state: BotState, data: bytes) -> list[JSON]:
    """Decode an image and store it as a PhotoSize array, smallest first, like Telegram."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises many types for garbage input
        raise ApiError.bad_request("IMAGE_PROCESS_FAILED") from exc
    width, height = image.size
    if width + height > 10000 or max(width, height) > 20 * min(width, height):
        raise ApiError.bad_request("PHOTO_INVALID_DIMENSIONS")
    sizes: list[JSON] = []
    for side in THUMBNAIL_SIDES:
        if max(width, height) > side:
            thumb = image.convert("RGB")
            thumb.thumbnail((side, side))
            buffer = io.BytesIO()
            thumb.save(buffer, "JPEG")
            stored = state.add_file(buffer.getvalue(), kind="photo", extension=".jpg")
            sizes.append(_size(stored, *thumb.size))
    # The biggest size keeps the uploaded bytes, so downloading it gives back exactly what was
    # sent (tests compare bytes); only oversized originals are scaled down.
    scale = min(1.0, MAX_PHOTO_SIDE / max(width, height))
    full = state.add_file(data, kind="photo", extension=".jpg")
    sizes.append(_size(full, round(width * scale), round(height * scale)))
    with state.lock:
        for size in sizes:
            state.photo_sets[size["file_id"]] = sizes
    return sizes


def store_document(state: BotState, upload: Upload, kind: str = "document") -> StoredFile:
    name = upload.filename or "file"
    mime = upload.content_type
    if not mime or mime == "application/octet-stream":
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    extension = os.path.splitext(name)[1]
    return state.add_file(
        upload.data, kind=kind, extension=extension, file_name=name, mime_type=mime
    )


def _known_file(state: BotState, ref: object, kind: str) -> StoredFile:
    if isinstance(ref, str) and ref.startswith(("http://", "https://")):
        # The fake server has no internet access, just like the test machines.
        raise ApiError.bad_request("failed to get HTTP URL content")
    stored = state.files.get(ref) if isinstance(ref, str) else None
    if stored is None:
        raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
    if kind == "photo" and stored.kind != "photo":
        raise ApiError.bad_request(f"can't use file of type {stored.kind.title()} as Photo")
    return stored


def resolve_photo(state: BotState, req: ApiRequest, ref: object, field: str) -> list[JSON]:
    upload = req.upload_ref(ref) or (req.uploads.get(field) if ref is None else None)
    if upload is not None:
        return store_photo(state, upload.data)
    if ref is None or (isinstance(ref, str) and ref.startswith("attach://")):
        raise ApiError.bad_request(f"there is no {field} in the request")
    stored = _known_file(state, ref, "photo")
    return state.photo_sets[stored.file_id]


def resolve_file(
    state: BotState, req: ApiRequest, ref: object, field: str, kind: str
) -> StoredFile:
    upload = req.upload_ref(ref) or (req.uploads.get(field) if ref is None else None)
    if upload is not None:
        return store_document(state, upload, kind)
    if ref is None or (isinstance(ref, str) and ref.startswith("attach://")):
        raise ApiError.bad_request(f"there is no {field} in the request")
    return _known_file(state, ref, kind)


def media_object(stored: StoredFile, kind: str, item: JSON) -> JSON:
    """Document / Video / Audio object for a stored file."""
    obj: JSON = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }
    if stored.file_name:
        obj["file_name"] = stored.file_name
    if stored.mime_type:
        obj["mime_type"] = stored.mime_type
    if kind in ("video", "audio"):
        obj["duration"] = int(item.get("duration") or 0)
    if kind == "video":
        obj.update(width=int(item.get("width") or 1), height=int(item.get("height") or 1))
    return obj
