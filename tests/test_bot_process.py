"""The bot process stays free of torch and keeps its token out of its output."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from testing.support import ROOT, TOKEN, bot_refusing_to_start


def test_building_the_bot_does_not_import_torch() -> None:
    code = textwrap.dedent(
        f"""
        import os, sys
        os.environ["BOT_TOKEN"] = {TOKEN!r}
        from bot.app import build_bot, build_dispatcher, build_services
        from bot.config import load_settings
        settings = load_settings()
        bot = build_bot(settings)
        build_dispatcher(build_services(settings, bot))
        heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
        print("heavy:", heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "heavy: []" in out.stdout


@pytest.mark.parametrize("token", [None, "", "not-a-token", "123456:short"])
def test_missing_token_is_a_clear_error_without_traceback(
    tmp_path: Path, token: str | None
) -> None:
    line = bot_refusing_to_start(tmp_path, {} if token is None else {"BOT_TOKEN": token})
    assert "invalid or missing settings: BOT_TOKEN (set them in .env" in line
    if token:
        assert token not in line
