"""Shared by the benchmarks: percentiles, machine details, and appending to docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def machine() -> str:
    """One line on where the figures came from."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"CPU {_cpu_model()} ({cores} core{'' if cores == 1 else 's'} usable)"]
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            parts.append(f"GPU {torch.cuda.get_device_name()}")
        parts.append(f"torch {torch.__version__}")
    for package in ("diffusers", "transformers", "aiogram", "redis", "rq"):
        if _version(package) != "absent":
            parts.append(f"{package} {_version(package)}")
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def append(title: str, module: str, body: str, doc: Path | None = None) -> str:
    """Print a dated section and append it to docs/benchmarks.md (or `doc`)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["python -m", module, *sys.argv[1:]])
    section = f"\n## {title} — {stamp}\n\n{machine()}\n\nCommand: `{command}`\n\n{body.strip()}\n"
    print(section)
    target = doc or DOC
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as out:
        out.write(section)
    return section
