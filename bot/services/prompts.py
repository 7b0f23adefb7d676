"""Prompt clean-up and validation, independent of Telegram."""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

# Zero-width and direction-override characters render as nothing (or reorder text) in a
# caption; they carry no meaning for the text encoder either.
_INVISIBLE: Final = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACES: Final = re.compile(r"\s+")


class PromptError(ValueError):
    """A prompt the bot refuses, with the reason the user is told."""

    def __init__(self, reason: Literal["empty", "too_long"], limit: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


def clean_prompt(raw: str | None, max_length: int) -> str:
    """Return the prompt as the model will see it, or raise `PromptError`.

    Control and invisible characters are dropped and whitespace runs become one space, so
    a prompt that only looked non-empty is treated as empty.
    """
    text = _INVISIBLE.sub("", raw or "")
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = _SPACES.sub(" ", text).strip()
    if not text:
        raise PromptError("empty")
    if len(text) > max_length:
        raise PromptError("too_long", max_length)
    return text
