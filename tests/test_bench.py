"""The benchmark scripts run end to end on the tiny pipeline (correctness only, never timing)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from diffusers import AutoPipelineForImage2Image

from bench import model, report, safety
from bench.checks import targets

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
    # The GPU targets are judged only for the full architecture on a GPU.
    assert "targets for" not in out
    assert "start-up vae+hot+nofuse: build" in out


def test_model_bench_compares_image_to_image_with_the_image_to_image_pipeline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The i2i rows' plain side is diffusers' image-to-image pipeline on the same picture,
    and off CUDA no memory figure is printed as if it had been measured."""
    called: list[int] = []
    real = AutoPipelineForImage2Image.from_pipe

    def counted(pipe: object) -> object:
        img2img = real(pipe)

        def call(**kwargs: object) -> object:
            images = kwargs["image"]
            assert isinstance(images, list) and images[0] is model.PHOTO
            called.append(len(images))
            return img2img(**kwargs)

        return call

    monkeypatch.setattr(AutoPipelineForImage2Image, "from_pipe", counted)
    args = "--preset tiny --batches 1 --iters 1 --warm 0 --variants vae+i2i --no-append"
    model.main(args.split())
    out = capsys.readouterr().out
    assert called and set(called) == {1}
    assert "memory n/a off CUDA" in out and "GiB" not in out.split("start-up")[1].split("\n")[0]


def test_targets_are_judged_per_decoder() -> None:
    def row(batch: int, ms_per_image: float, per_s: float) -> list[object]:
        return ["v", batch, "0", f"{ms_per_image}", "0", "0", f"{per_s}"]

    full = targets("bf16dec", [row(1, 28.0, 35.0), row(8, 15.0, 66.0)])
    assert "batch 1 p50 28.0 ms (target <= 30 ms): met" in full
    assert "66.0 img/s at batch 8 (target >= 50): met" in full
    tiny = targets("tinyvae+gpujpeg", [row(1, 18.0, 55.0), row(8, 6.0, 160.0)])
    assert "batch 1 p50 18.0 ms (target <= 15 ms): not met" in tiny
    assert "160.0 img/s at batch 8 (target >= 170): not met" in tiny


def test_safety_bench_times_each_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    args = "--shapes tiny --batches 1 2 --iters 1 --warm 0 --device cpu --no-append"
    safety.main(args.split())
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert [row.split(" | ")[3] for row in rows] == ["1", "2"]
    assert all(float(row.split(" | ")[5]) > 0 for row in rows)


def test_gpu_check_runs_every_section_and_keeps_going_past_a_failing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import gpu_check

    def broken(check: gpu_check.Check) -> dict[str, object]:
        raise RuntimeError("this section broke")

    monkeypatch.setitem(gpu_check.SECTIONS, "eager", broken)
    args = f"--preset tiny --device cpu --iters 1 --max-batch 2 --out {tmp_path}"
    gpu_check.main(args.split())

    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert list(results) == [*gpu_check.SECTIONS, "targets"]
    assert results["eager"]["error"] == "RuntimeError('this section broke')"
    failed = [name for name, figures in results.items() if "error" in figures]
    assert failed == ["eager"]
    # The sections after the broken one still measured.
    assert results["i2i"]["batch_1_p50_ms"] > 0 and results["tiny"]["batch_1_p50_ms"] > 0
    assert results["overlap"]["overlapped_img_s"] > 0 and results["overlap"]["batches"] == 6
    assert results["engine"]["graphs"] is False and results["engine"]["max_batch"] == 2
    assert results["targets"]["full_batch_1_ms"][0] == results["engine"]["batch_1_new_p50_ms"]
    assert results["upscale"]["512_unchanged"] is True and results["upscale"]["refine"] > 0
    assert results["targets"]["upscale_engine_ms"] == [results["upscale"]["call"], "< 300"]
    assert "| engine | batch_1_new_p50_ms |" in (tmp_path / "gpu_check.md").read_text()


def test_upscale_bench_splits_the_engine_time_into_its_stages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import upscale

    upscale.main(["--preset", "tiny", "--iters", "1", "--warm", "0", "--no-append"])
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    cells = row.strip("| ").split(" | ")
    photo, lanczos, refine, total = (float(cell) for cell in cells[1:5])
    assert min(photo, lanczos, refine) > 0 and total == pytest.approx(photo + lanczos + refine)
    assert float(cells[5]) > 0 and cells[7] == "yes"


def test_translate_bench_times_new_and_cached_batches(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import translate

    args = "--preset tiny --batches 1 4 --iters 1 --tokens 4 --no-append"
    translate.main(args.split())
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    # Header, separator, then one row per batch size with its Cyrillic runs (two a prompt).
    assert [row.split(" | ")[:2] for row in rows[2:]] == [["| 1", "2"], ["| 4", "8"]]


def test_system_bench_measures_new_users_and_ends_at_a_refusal(tmp_path: Path) -> None:
    from bench import system

    blocked = tmp_path / "blocked.txt"
    blocked.write_text("forbidden\n")
    stack = system.System(tmp_path, 2, bot_env={"BLOCKLIST_FILE": str(blocked)})
    try:
        run = system.scenario(stack, "t", 2, 2)
        # Four samples from four users: none held back by a user's rate or a chat's pacing.
        assert len(run.parts["overhead"]) == 4 and min(run.parts["ingest"]) > 0
        assert run.paced.sends >= 4 and run.paced.waited == 0
        assert list(run.bot) == list(system.STAGES) and min(run.bot.values()) > 0
        sample = stack.push("a forbidden fox")
        # The refusal ends the wait at once, with the bot's answer, not a timeout.
        with pytest.raises(system.Refused, match="forbidden fox"):
            stack.photo(sample, timeout=60)
    finally:
        stack.close()
