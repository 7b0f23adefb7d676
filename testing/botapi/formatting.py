"""Telegram's HTML parse mode: plain text + entities, with Telegram's strictness and errors.

This is what catches the classic bot bug of interpolating user text into HTML without escaping:
Telegram rejects ``<br>``, unknown tags and unbalanced tags with a 400, and so does this parser.
MarkdownV2/Markdown are passed through untouched (text kept as sent, no entities).
"""

from __future__ import annotations

import html
import re
from typing import Any

from .core import JSON, ApiError
from .objects import utf16_len

_TAG_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_ATTRIBUTE = re.compile(r"""([\w-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_ENTITY_REF = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")


def _parse_error(reason: str) -> ApiError:
    return ApiError.bad_request(f"can't parse entities: {reason}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _attributes(raw: str) -> dict[str, str]:
    return {
        m.group(1).lower(): html.unescape((m.group(2) or "").strip("\"'"))
        for m in _ATTRIBUTE.finditer(raw)
    }


def _entity(tag: str, attrs: dict[str, str], offset: int, length: int) -> JSON | None:
    kind = _TAG_ENTITIES[tag]
    entity: JSON = {"type": kind, "offset": offset, "length": length}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return None
        if href.startswith("tg://user?id="):
            entity.update(type="text_mention", user={"id": int(href.split("=", 1)[1] or 0)})
        else:
            entity["url"] = href
    if tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    if tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    if tag == "code" and attrs.get("class", "").startswith("language-"):
        entity["language"] = attrs["class"].removeprefix("language-")
    return entity


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Convert Telegram HTML to ``(plain_text, entities)`` or raise Telegram's 400."""
    out: list[str] = []
    out_len = 0  # UTF-16 length of the text produced so far
    stack: list[tuple[str, dict[str, str], int]] = []
    entities: list[JSON] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            match = _ENTITY_REF.match(text, i)
            piece = html.unescape(match.group()) if match else "&"
            i = match.end() if match else i + 1
        elif char == "<":
            end = text.find(">", i)
            if end < 0:
                raise _parse_error(f"Unclosed start tag at byte offset {_byte_offset(text, i)}")
            body = text[i + 1 : end]
            if body.startswith("/"):
                name = body[1:].strip().lower()
                if not stack:
                    raise _parse_error(
                        f"Unexpected end tag at byte offset {_byte_offset(text, i)}"
                    )
                tag, attrs, start = stack.pop()
                if name and name != tag:
                    raise _parse_error(
                        f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                        f'expected "</{tag}>", found "</{name}>"'
                    )
                entity = _entity(tag, attrs, start, out_len - start)
                if entity is not None and entity["length"] > 0:
                    entities.append(entity)
            else:
                name = body.split(maxsplit=1)[0].lower() if body.strip() else ""
                attrs = _attributes(body[len(name) :])
                # <span> is only allowed as the spoiler spelling.
                if name not in _TAG_ENTITIES or (
                    name == "span" and attrs.get("class") != "tg-spoiler"
                ):
                    raise _parse_error(
                        f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
                    )
                stack.append((name, attrs, out_len))
            i = end + 1
            continue
        else:
            piece = char
            i += 1
        out.append(piece)
        out_len += utf16_len(piece)
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda entity: (int(entity["offset"]), -int(entity["length"])))
    return "".join(out), entities


def format_text(text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
    """Apply ``parse_mode`` / explicit ``entities`` the way sendMessage and friends do."""
    if isinstance(entities, list):
        return text, entities
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        return parse_html(text)
    return text, []
