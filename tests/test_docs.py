"""The README and .env.example document every setting the code reads."""

from __future__ import annotations

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


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    missing = sorted(name for name in _settings_names() if name not in text)
    assert not missing, f"{document} does not mention {missing}"
    assert len(_settings_names()) > 30
