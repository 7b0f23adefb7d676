"""Which lines scripts/mutation.sh lets mutmut change (mutmut imports this module by name).

A mutant that changes a log message, a docstring or a type-checking-only import says nothing
about the tests, and one in code this check does not cover (a CUDA-only path, a module's
other classes) only costs time: those mutants are skipped, and counted as skipped.
"""

from __future__ import annotations

import ast
from functools import cache
from typing import Any

# Per module, the top-level names (or Class.method) whose lines are mutated; a module not
# named here is mutated whole.
ONLY: dict[str, frozenset[str]] = {
    # The request and what validates it; the rest of the module is Result and Redis keys.
    "common/protocol.py": frozenset(
        {
            "MAX_SEED",
            "IMAGE_SIZE",
            "MAX_SIDE",
            "UPSCALE_FACTOR",
            "MIN_UPSCALE_STRENGTH",
            "MAX_UPSCALE_STRENGTH",
            "GenerationRequest",
        }
    ),
    # The verdicts: scores against the threshold, per image, through every path that
    # publishes them. The classifier's preprocessing is checked by test_safety_worker.py
    # against the image processor itself, a comparison mutants of it only make slower.
    "worker/safety.py": frozenset(
        {"Verdict", "Checked", "SafetyChecker", "set_checker", "counted", "checked", "Pending"}
    ),
    # The decision and what the user is told; not the records' defaults or the wiring.
    "bot/requests/admission.py": frozenset(
        {
            "REFUSAL_TEXTS",
            "Admission.admit",
            "Admission._backlog_and_repeat",
            "Admission._refused",
        }
    ),
    # One job, one answer: the claim, the checks before sending, the acknowledgement.
    "bot/delivery/results.py": frozenset(
        {"_CLAIM", "ResultDelivery._deliver", "ResultDelivery._acknowledge"}
    ),
}
# Per module, names left out: paths the CPU test suite cannot reach.
NOT: dict[str, frozenset[str]] = {
    # Pinned host copies and CUDA events: only on a GPU (bench/ and the GPU checks).
    "worker/safety.py": frozenset({"started", "SafetyChecker._inputs", "SafetyChecker.warm_up"}),
}


def _names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _lines(node: ast.AST) -> range:
    return range(getattr(node, "lineno", 1), (getattr(node, "end_lineno", None) or 0) + 1)


def _quiet(node: ast.AST) -> bool:
    """A docstring, a log call, a typing-only block or alias: nothing a test could see."""
    if isinstance(node, ast.Expr):
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return True
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            owner = value.func.value
            return isinstance(owner, ast.Name) and owner.id == "log"
    if isinstance(node, ast.If) and isinstance(node.test, ast.Name):
        return node.test.id == "TYPE_CHECKING"
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript):
        # A type alias (`Reason = Literal[...]`): its strings exist for the type checker.
        return isinstance(node.value.value, ast.Name) and node.value.value.id == "Literal"
    return False


@cache
def mutable_lines(filename: str) -> frozenset[int]:
    """The 1-based line numbers of `filename` that are mutated."""
    with open(filename, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    only, left_out = ONLY.get(filename), NOT.get(filename, frozenset())
    lines: set[int] = set()
    for node in tree.body:
        names = set(_names(node))
        if names & left_out:
            continue
        if not isinstance(node, ast.ClassDef):
            if only is None or names & only:
                lines.update(_lines(node))
            continue
        for member in node.body:
            qualified = {f"{node.name}.{name}" for name in _names(member)}
            if qualified & left_out:
                continue
            if only is None or node.name in only or qualified & only:
                lines.update(_lines(member))
    for quiet in ast.walk(tree):
        if _quiet(quiet):
            lines.difference_update(_lines(quiet))
    return frozenset(lines)


def pre_mutation(context: Any) -> None:
    """mutmut's hook, called before each mutant is made."""
    if context.current_line_index + 1 not in mutable_lines(context.filename):
        context.skip = True
