"""MAX_BATCH: `auto` from the GPU memory left after loading, capped where batching stops paying
(16 with the full VAE, 32 with the tiny decoder); a number overrides, within the full VAE's cap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import torch
from pydantic import ValidationError

from worker.config import ModelSettings, SpeedSettings
from worker.devices import resolve_max_batch
from worker.engine import load_engine

if TYPE_CHECKING:
    from pathlib import Path

CUDA, CPU = torch.device("cuda"), torch.device("cpu")
GIB = 2**30


@pytest.mark.parametrize(
    ("free_gib", "tiny", "expected"),
    [
        (130.0, False, 16),  # an H200 after loading: capped
        (130.0, True, 32),
        (16.5, False, 15),  # a 24 GB card: (16.5 - 1.5) / 1.0
        (4.5, False, 3),  # a 12 GB card: (4.5 - 1.5) / 1.0
        (4.5, True, 8),  # the tiny decoder: (4.5 - 1.5) / 0.35
        (1.0, False, 1),  # less than the headroom: still one
    ],
)
def test_auto_fills_the_free_memory_up_to_the_cap(
    free_gib: float, tiny: bool, expected: int
) -> None:
    value, source = resolve_max_batch("auto", CUDA, tiny, free_bytes=int(free_gib * GIB))
    assert value == expected
    # The log line names the figure it came from.
    assert f"{free_gib:.1f} GiB free after loading" in source
    assert source.startswith(f"MAX_BATCH=auto: {expected} ")


def test_auto_off_cuda_is_four() -> None:
    assert resolve_max_batch("auto", CPU, False) == (4, "MAX_BATCH=auto: 4 on cpu")


def test_a_number_overrides_but_the_full_vae_stops_at_16() -> None:
    assert resolve_max_batch(8, CUDA, False, free_bytes=GIB) == (8, "MAX_BATCH=8")
    assert resolve_max_batch(32, CUDA, True) == (32, "MAX_BATCH=32")
    assert resolve_max_batch(32, CUDA, False) == (
        16,
        "MAX_BATCH=32 capped at 16 with the full VAE",
    )


def test_the_setting_takes_auto_or_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SpeedSettings().max_batch == "auto"
    monkeypatch.setenv("MAX_BATCH", "8")
    assert SpeedSettings().max_batch == 8
    for bad in ("0", "33", "lots"):
        monkeypatch.setenv("MAX_BATCH", bad)
        with pytest.raises(ValidationError):
            SpeedSettings()


def test_the_engine_batches_as_resolved_and_logs_why(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="worker.engine"):
        engine = load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))
    assert engine.max_batch == 4 and engine.buckets == [1, 2, 4]
    assert "batches of up to 4: MAX_BATCH=auto: 4 on cpu" in caplog.text
