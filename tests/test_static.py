"""The code stays typed and formatted: mypy (strict) and ruff, as the project's standard."""

from __future__ import annotations

import ast
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


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = function.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return [arg.arg for arg in named if arg.arg not in ("self", "cls")]


def test_no_function_takes_more_than_six_parameters() -> None:
    # Facts that travel together travel as one value (an `Origin`, an `Ask`, an `Outgoing`).
    crowded = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for package in ("bot", "worker", "common")
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and len(_parameters(node)) > 6
    ]
    assert crowded == []
