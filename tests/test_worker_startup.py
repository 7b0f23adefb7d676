"""A worker that cannot start says so in one line naming the setting and the fix."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from worker.startup import StartupError, check_source

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Spawner


def _as_another_user(path: str, mode: int) -> bool:
    """os.access as the image's uid 10001 sees files owned by root: the "other" bits."""
    bits = stat.S_IMODE(os.stat(path).st_mode)
    need = (stat.S_IROTH if mode & os.R_OK else 0) | (stat.S_IXOTH if mode & os.X_OK else 0)
    return bits & need == need


def test_weights_written_0600_are_named_with_the_fix(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text("{}")
    weights = model / "unet"
    weights.mkdir()
    (weights / "diffusion_pytorch_model.safetensors").write_bytes(b"x")
    os.chmod(weights / "diffusion_pytorch_model.safetensors", 0o600)  # as safetensors writes
    monkeypatch.setattr("worker.startup.os.access", _as_another_user)
    with pytest.raises(StartupError) as refused:
        check_source("MODEL_ID", str(model))
    message = str(refused.value)
    assert message.startswith(f"MODEL_ID={model}: {weights}/diffusion_pytorch_model.safetensors")
    assert "is not readable by uid" in message and "(-rw-------)" in message
    assert f"chmod -R a+rX {model}" in message
    # Made readable, as the message says: accepted.
    os.chmod(weights / "diffusion_pytorch_model.safetensors", 0o644)
    check_source("MODEL_ID", str(model))


def test_hub_ids_are_left_to_the_loader() -> None:
    check_source("MODEL_ID", "stabilityai/sdxl-turbo")


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"model_id": "/models/not-mounted"},
            "cannot start: MODEL_ID=/models/not-mounted: no such directory; mount the "
            "save_pretrained directory there",
        ),
        (
            {"model_id": "nobody/not-in-the-cache"},
            "cannot start: MODEL_ID=nobody/not-in-the-cache could not be loaded (",
        ),
        (
            {"safety_model_id": "nobody/no-classifier"},
            "cannot start: SAFETY_MODEL_ID=nobody/no-classifier could not be loaded (",
        ),
        (
            {"device": "cuda"},
            "cannot start: DEVICE=cuda but no CUDA device is available: install a driver the "
            "image's CUDA build supports",
        ),
    ],
    ids=["missing-directory", "offline-hub-id", "offline-safety-model", "no-cuda"],
)
def test_a_worker_that_cannot_load_a_model_exits_with_one_line(
    spawn: Spawner, redis_url: str, tiny_model: Path, env: dict[str, str], line: str
) -> None:
    model = env.pop("model_id", str(tiny_model))
    device = env.pop("device", "cpu")
    worker = spawn("worker", redis_url=redis_url, model_id=model, device=device, **env)
    assert worker.proc.wait(120) == 2
    output = worker.output()
    assert line in output
    assert "Traceback" not in output
    if "hub" in line or "could not be loaded" in line:
        assert "with HF_HUB_OFFLINE=1 it must already be in the cache" in output
    if "SAFETY_MODEL_ID" in line:  # a model the operator may do without says how
        assert "; or SAFETY_MODEL_ID= (empty) turns it off" in output
