"""Every user-facing text exists in English and Russian with the same placeholders."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from bot import texts
from bot.i18n import SOURCE_DIR, build_i18n, locale_for

TEXTS = {name: value for name, value in vars(texts).items() if name.isupper()}


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_russian_catalog_translates_every_text_with_the_same_placeholders() -> None:
    with (SOURCE_DIR / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    i18n = build_i18n()
    for name, english in TEXTS.items():
        message = catalog.get(english)
        assert message is not None and message.string, f"{name} has no Russian text"
        russian = i18n.gettext(english, locale="ru")
        assert russian == message.string and russian != english, name
        assert _fields(russian) == _fields(english), name
        assert i18n.gettext(english, locale="en") == english


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ru", "ru"), ("ru-RU", "ru"), ("en", "en"), ("en-GB", "en"), ("de", "en"), (None, "en")],
)
def test_telegram_language_code_maps_to_a_supported_locale(
    code: str | None, expected: str
) -> None:
    assert locale_for(code, "en") == expected
