"""The languages a user or a group can choose, each named in itself (never translated)."""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = {"en": "English", "ru": "Русский"}
