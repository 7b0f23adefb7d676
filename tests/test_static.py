"""The code stays typed and formatted: mypy (strict) and ruff, as the project's standard."""

from __future__ import annotations

import subprocess
import sys

import pytest

from testing.support import ROOT

PACKAGES = ["bot", "common", "worker", "testing", "tests", "bench"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PACKAGES],
        ["ruff", "format", "--check", *PACKAGES],
        ["mypy", "bot", "common", "worker"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_checks_pass(command: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
