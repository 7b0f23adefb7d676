"""The code stays typed and formatted: mypy (strict) and ruff, as the project's standard."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from testing.support import ROOT

if TYPE_CHECKING:
    from pathlib import Path

PACKAGES = ["bot", "common", "worker", "testing", "tests", "bench"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PACKAGES],
        ["ruff", "format", "--check", *PACKAGES],
        ["mypy", "bot", "common", "worker", "testing", "bench", "tests"],
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


LAYERED = ("bot", "worker", "common")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every import between modules of bot/, worker/ and common/, typing-only and
    function-local ones too: a circle that only type checkers follow still ties two modules."""
    paths = {_module_name(p): p for package in LAYERED for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from bot import texts` imports the module bot.texts.
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in paths else node.module)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as the modules along it, or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_cycle_finder_names_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    circle = _cycle(_import_graph())
    assert circle == [], "import circle: " + " -> ".join(circle)


def _feature(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bot" and len(parts) > 2 and parts[1] != "handlers" else None


def test_feature_packages_import_one_way() -> None:
    # bot/<feature>/ packages taken whole: intake, requests, delivery, outbound, community,
    # play, shared. One circle between two of them and the tree stops telling the layers.
    packages: dict[str, set[str]] = {}
    for module, targets in _import_graph().items():
        if (source := _feature(module)) is None:
            continue
        packages.setdefault(source, set())
        packages[source].update(
            feature for t in targets if (feature := _feature(t)) not in (None, source)
        )
    for feature in {t for targets in packages.values() for t in targets}:
        packages.setdefault(feature, set())
    circle = _cycle(packages)
    assert circle == [], "feature packages in a circle: " + " -> ".join(circle)


def _wrong_way(module: str, target: str) -> bool:
    top, to = module.split(".")[0], target.split(".")[0]
    # Only the wiring module (and the handlers themselves) speak to aiogram's routers.
    if target.startswith("bot.handlers") and not module.startswith(("bot.handlers", "bot.app")):
        return True
    # common/ is shared by both processes and depends on neither; the bot never imports the
    # worker (torch), and the worker never imports the bot (Telegram).
    return (top, to) in {
        ("common", "bot"),
        ("common", "worker"),
        ("bot", "worker"),
        ("worker", "bot"),
    }


def test_layers_import_downwards_only() -> None:
    graph = _import_graph()
    wrong = [
        f"{m} imports {t}" for m, targets in graph.items() for t in targets if _wrong_way(m, t)
    ]
    assert wrong == []
