"""Photo captions: the prompt (escaped, shortened to fit) and the seed."""

from __future__ import annotations

from html import escape
from typing import Final

# Telegram's limit applies to the caption's visible text, counted in UTF-16 code units.
CAPTION_LIMIT: Final = 1024
ELLIPSIS: Final = "…"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _shorten(text: str, budget: int) -> str:
    if utf16_len(text) <= budget:
        return text
    budget -= utf16_len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for ch in text:
        size = utf16_len(ch)
        if used + size > budget:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + ELLIPSIS


def build_caption(prompt: str, seed: int, footer: str = "") -> str:
    """Return an HTML caption whose visible text fits Telegram's 1024-unit limit."""
    tail = f"\nseed {seed}" + (f"\n{footer}" if footer else "")
    visible_prompt = _shorten(prompt, CAPTION_LIMIT - utf16_len(tail))
    html_tail = f"\nseed <code>{seed}</code>" + (
        f"\n{escape(footer, quote=False)}" if footer else ""
    )
    return f"<i>{escape(visible_prompt, quote=False)}</i>{html_tail}"
