"""Decoding of Bot API requests: query string, JSON, urlencoded and multipart bodies.

aiogram's AiohttpSession always POSTs an aiohttp ``FormData``: urlencoded when there is no
file, multipart/form-data otherwise. Scalars arrive as strings ("123", "true"), nested objects
(reply_parameters, reply_markup, entities, media) as JSON strings and files as parts whose
field name is a random key referenced from the parameter as ``attach://<key>``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from .core import JSON, ApiError, Upload

# Free-text parameters are never type-coerced: a message whose text is "42" or "[1, 2]" must
# stay a string. Everything else is decoded like Telegram does ("123" -> 123, "{...}" -> dict).
FREE_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "query",
        "title",
        "description",
        "short_description",
        "name",
        "explanation",
        "question",
        "emoji",
        "url",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "start_parameter",
        "payload",
        "file_id",
        "custom_title",
    }
)
_SCALAR = re.compile(r"-?\d+(\.\d+)?|true|false|null")


def decode_value(name: str, value: Any) -> Any:
    if not isinstance(value, str) or name in FREE_TEXT_FIELDS:
        return value
    stripped = value.strip()
    if stripped[:1] in ("{", "[") or _SCALAR.fullmatch(stripped):
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


async def parse_request(request: web.Request) -> tuple[JSON, dict[str, Upload]]:
    """Merge query and body parameters (Telegram accepts both) and split off uploaded files."""
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json" and request.can_read_body:
        try:
            body = await request.json()
        except ValueError as exc:
            raise ApiError.bad_request(f"can't parse JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError.bad_request("JSON body must be an object")
        raw.update(body)
    elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                uploads[key] = Upload(value.filename, value.content_type, value.file.read())
            else:
                raw[key] = value
    return {key: decode_value(key, value) for key, value in raw.items()}, uploads
