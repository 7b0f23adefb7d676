"""Photo captions: the prompt (escaped, shortened to fit), the seed and the footer."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiogram.utils.i18n import I18n

    from bot.requests.jobs import JobContext

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


DRAWN: Final = "\n→ "
STYLE: Final = "🎨 "
# The mark of a 2× picture (🔍), the same in every language.
UPSCALED: Final = "🔍 2× · 1024×1024"


def build_caption(
    prompt: str,
    seed: int,
    footer: str = "",
    drawn: str = "",
    style: str = "",
    upscaled: bool = False,
) -> str:
    """Return an HTML caption whose visible text fits Telegram's 1024-unit limit: the prompt
    as typed, then (when it was translated) the English text that was drawn on a line of
    its own, at most half of the room, then the style (if any), the 2× mark (if it is the
    upscaled version), the seed and the footer."""
    marks = (f"\n{STYLE}{style}" if style else "") + (f"\n{UPSCALED}" if upscaled else "")
    tail = f"{marks}\nseed {seed}" + (f"\n{footer}" if footer else "")
    budget = CAPTION_LIMIT - utf16_len(tail)
    drawn_line = ""
    if drawn:
        room = min(utf16_len(DRAWN + drawn), budget // 2)
        drawn_line = DRAWN + _shorten(drawn, room - utf16_len(DRAWN))
        budget -= utf16_len(drawn_line)
    visible_prompt = _shorten(prompt, budget)
    html_tail = f"{escape(marks, quote=False)}\nseed <code>{seed}</code>" + (
        f"\n{escape(footer, quote=False)}" if footer else ""
    )
    return (
        f"<i>{escape(visible_prompt, quote=False)}</i>{escape(drawn_line, quote=False)}{html_tail}"
    )


class Wording:
    """The words of every answer: captions with the footer, translated texts and buttons."""

    def __init__(self, footer: str, i18n: I18n) -> None:
        self._footer = footer
        self._i18n = i18n

    def caption(self, context: JobContext, seed: int, drawn: str = "") -> str:
        style = context.style.name(context.locale) if context.style is not None else ""
        return build_caption(context.prompt, seed, self._footer, drawn, style, context.upscaled)

    def text(self, text_id: str, locale: str) -> str:
        return self._i18n.gettext(text_id, locale=locale)

    def translator(self, locale: str) -> Callable[[str], str]:
        return lambda text_id: self.text(text_id, locale)
