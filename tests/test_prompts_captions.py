"""Prompt clean-up and caption building, without Telegram."""

from __future__ import annotations

import pytest

from bot.delivery.captions import CAPTION_LIMIT, build_caption, utf16_len
from bot.requests.prompts import PromptError, clean_prompt


@pytest.mark.parametrize("raw", [None, "", "   ", "\n\t ", "\u200b\u200d\ufeff", "\x00\x07 \x1b"])
def test_blank_prompts_are_refused_as_empty(raw: str | None) -> None:
    with pytest.raises(PromptError) as info:
        clean_prompt(raw, 500)
    assert info.value.reason == "empty"


def test_prompt_whitespace_and_invisible_characters_are_normalised() -> None:
    raw = "  a\u200b fox \n\n in\tthe\x00snow\u202e  "
    assert clean_prompt(raw, 500) == "a fox in the snow"


def test_emoji_and_right_to_left_text_are_kept() -> None:
    assert clean_prompt("🦊 ثعلب في الثلج", 500) == "🦊 ثعلب في الثلج"


def test_prompt_over_the_limit_is_refused_with_the_limit() -> None:
    with pytest.raises(PromptError) as info:
        clean_prompt("x" * 501, 500)
    assert (info.value.reason, info.value.limit) == ("too_long", 500)
    assert clean_prompt("x" * 500, 500) == "x" * 500


def _visible(caption: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", caption))


def test_caption_holds_escaped_prompt_seed_and_footer() -> None:
    caption = build_caption('<b>fox</b> & "snow"', 42, "SDXL Turbo · non-commercial use")
    assert caption.startswith('<i>&lt;b&gt;fox&lt;/b&gt; &amp; "snow"</i>')
    assert "seed <code>42</code>" in caption
    assert _visible(caption).endswith("SDXL Turbo · non-commercial use")


@pytest.mark.parametrize("unit", ["a", "&", "🦊", "<"])
def test_long_prompt_is_shortened_to_telegrams_caption_limit(unit: str) -> None:
    caption = build_caption(unit * 3000, 4294967295, "footer")
    visible = _visible(caption)
    assert utf16_len(visible) <= CAPTION_LIMIT
    assert utf16_len(visible) >= CAPTION_LIMIT - 2  # uses the room, not a fixed short cut
    assert "…" in visible
    assert "seed 4294967295" in visible


def test_a_translated_prompt_shows_the_drawn_english_on_its_own_escaped_line() -> None:
    caption = build_caption("рыжая лиса & <кот>", 7, "footer", drawn="red fox & <cat>")
    assert caption.startswith("<i>рыжая лиса &amp; &lt;кот&gt;</i>\n→ red fox &amp; &lt;cat&gt;\n")
    assert _visible(caption) == "рыжая лиса & <кот>\n→ red fox & <cat>\nseed 7\nfooter"


@pytest.mark.parametrize("unit", ["a", "🦊"])
def test_a_long_prompt_and_its_long_translation_share_the_caption_limit(unit: str) -> None:
    caption = build_caption("л" * 3000, 4294967295, "footer", drawn=unit * 3000)
    visible = _visible(caption)
    assert CAPTION_LIMIT - 2 <= utf16_len(visible) <= CAPTION_LIMIT
    typed, drawn = visible.split("\n")[:2]
    assert typed.endswith("…") and drawn.startswith("→ ") and drawn.endswith("…")
    # Neither crowds the other out: the English gets at most half of the room.
    assert utf16_len(typed) >= utf16_len(drawn) - 2
