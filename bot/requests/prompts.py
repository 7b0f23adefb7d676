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


# `--seed 42`, `--seed=42` or `seed:42`, anywhere in the prompt, as a word of its own.
_SEED: Final = re.compile(r"(?<!\S)(?:--seed[ =]|seed:)\s*(\d{1,20})(?!\S)", re.IGNORECASE)


class SeedError(ValueError):
    """A seed option outside 0..MAX_SEED."""


def split_seed(raw: str | None, max_seed: int) -> tuple[str | None, int | None]:
    """The prompt without its seed option, and the seed the user asked for (or None).

    The last seed option wins; all of them are removed from the prompt.
    """
    raw, found = _last_option(_SEED, raw)
    if found is None:
        return raw, None
    seed = int(found)
    if seed > max_seed:
        raise SeedError(str(seed))
    return raw, seed


# `--style anime`, `--style=anime`, `style:anime`, `--стиль аниме` or `стиль:аниме`, anywhere
# in the prompt, as a word of its own; a name of several words joins them with - or _.
_STYLE: Final = re.compile(
    r"(?<!\S)(?:--(?:style|стиль)[ =]|(?:style|стиль):)\s*(\S{1,40})(?!\S)", re.IGNORECASE
)


def split_style(raw: str | None) -> tuple[str | None, str | None]:
    """The prompt without its style option, and the style name the user wrote (or None).

    The last style option wins; all of them are removed from the prompt.
    """
    return _last_option(_STYLE, raw)


def _last_option(option: re.Pattern[str], raw: str | None) -> tuple[str | None, str | None]:
    """The prompt without any match of `option`, and the value of its last match (or None)."""
    if not raw:
        return raw, None
    found = option.findall(raw)
    if not found:
        return raw, None
    return option.sub(" ", raw), str(found[-1])
