"""The README and .env.example document every setting the code reads."""

from __future__ import annotations

import re

import pytest
from pydantic_settings import BaseSettings

from bot import config as bot_config
from common import config as common_config
from testing.support import ROOT
from worker import config as worker_config


def _settings_names() -> set[str]:
    names: set[str] = set()
    for module in (bot_config, common_config, worker_config):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value is not BaseSettings
            ):
                names.update(field.upper() for field in value.model_fields)
    return names


def _documented(document: str) -> set[str]:
    """Settings named where a setting is documented: a README table row that starts with
    the name, an .env.example line that sets it (commented out or not). A name found only
    inside another (`MODEL_ID` in `SAFETY_MODEL_ID`) or in prose does not count."""
    text = (ROOT / document).read_text(encoding="utf-8")
    table_row, assignment = r"^\| `([A-Z0-9_]+)` \|", r"^#? ?([A-Z0-9_]+)="
    pattern = table_row if document == "README.md" else assignment
    return set(re.findall(pattern, text, flags=re.MULTILINE))


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    missing = sorted(_settings_names() - _documented(document))
    assert not missing, f"{document} does not document {missing}"
    assert len(_settings_names()) > 30
