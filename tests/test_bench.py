"""The benchmark scripts run end to end on the tiny pipeline (correctness only, never timing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bench import model, report

if TYPE_CHECKING:
    from pathlib import Path


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert report.percentile(values, 50) == 50.0
    assert report.percentile(values, 99) == 99.0
    assert report.percentile(values, 100) == 100.0
    assert report.percentile([3.0], 99) == 3.0


def test_append_writes_a_dated_section_with_the_machine(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    report.append("Model: test", "bench.model", "| a |\n| --- |\n| 1 |", doc)
    text = doc.read_text()
    assert text.startswith("\n## Model: test — ")
    assert "Python " in text and "Command: `python -m bench.model" in text


def test_model_bench_compares_plain_and_engine(capsys: pytest.CaptureFixture[str]) -> None:
    args = "--preset tiny --batches 1 2 --iters 1 --warm 0 --variants vae+hot+nofuse --no-append"
    model.main(args.split())
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| vae")]
    # One table per variant as it finishes, then the whole table again.
    assert [row.split(" | ")[1] for row in rows] == ["1", "2", "1", "2"]
    assert all(row.split(" | ")[9] == "yes" for row in rows)
    # Same prompt and seed as the plain pipeline: the same picture, to a level.
    largest = {row.split(" | ")[10].split(",")[0] for row in rows}
    assert largest <= {"max 0", "max 1"}
    assert "targets for vae+hot+nofuse (full VAE):" in out
    assert "batch 1 p50" in out and "(target <= 30 ms)" in out
    assert "start-up vae+hot+nofuse: build" in out
