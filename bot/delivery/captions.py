"""Photo captions: the prompt (escaped, shortened to fit), the seed and the footer."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiogram.utils.i18n import I18n

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


class Wording:
    """The words of every answer: captions with the footer, translated texts and buttons."""

    def __init__(self, footer: str, i18n: I18n) -> None:
        self._footer = footer
        self._i18n = i18n

    def caption(self, prompt: str, seed: int) -> str:
        return build_caption(prompt, seed, self._footer)

    def text(self, text_id: str, locale: str) -> str:
        return self._i18n.gettext(text_id, locale=locale)

    def translator(self, locale: str) -> Callable[[str], str]:
        return lambda text_id: self.text(text_id, locale)
