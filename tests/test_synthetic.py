"""The random-weight SDXL Turbo pipeline saves and loads offline like the real model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

from testing.synthetic import save_pipeline, unet_parameter_count

# Published parameter count of the stabilityai/sdxl-turbo UNet.
SDXL_TURBO_UNET_PARAMETERS = 2_567_463_684
PROMPT = "a lighthouse on a cliff at sunset"


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """Fail instead of reaching the Hugging Face hub (monkeypatch is function-scoped)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def pipe(offline: None, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from diffusers import AutoPipelineForText2Image

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    path = save_pipeline("tiny", tmp_path_factory.mktemp("sdxl-turbo-tiny"))
    loaded = AutoPipelineForText2Image.from_pretrained(str(path))
    loaded.set_progress_bar_config(disable=True)
    return loaded


def _generate(pipe: Any, seed: int) -> npt.NDArray[np.uint8]:
    images = pipe(
        PROMPT,
        height=512,
        width=512,
        num_inference_steps=1,
        guidance_scale=0.0,
        generator=torch.Generator().manual_seed(seed),
    ).images
    assert len(images) == 1
    assert images[0].size == (512, 512)
    assert images[0].mode == "RGB"
    return np.asarray(images[0])


def test_saved_directory_looks_like_sdxl_turbo(pipe: Any) -> None:
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    assert type(pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert pipe.vae_scale_factor == 8
    assert pipe.tokenizer.model_max_length == pipe.tokenizer_2.model_max_length == 77
    assert pipe.tokenizer_2.pad_token == "!"


def test_generates_512px_noise(pipe: Any) -> None:
    pixels = _generate(pipe, seed=0)
    assert pixels.shape == (512, 512, 3)
    # Random weights give noise, but not a flat (e.g. all-black NaN) image.
    assert pixels.std() > 1.0


def test_same_seed_same_pixels_other_seed_other_pixels(pipe: Any) -> None:
    first, again, other = _generate(pipe, 1), _generate(pipe, 1), _generate(pipe, 2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_full_unet_matches_published_size() -> None:
    count = unet_parameter_count("full")
    assert count == pytest.approx(SDXL_TURBO_UNET_PARAMETERS, rel=0.01)


def test_build_is_deterministic() -> None:
    from testing.synthetic import build_pipeline

    a, b = build_pipeline("tiny", seed=3), build_pipeline("tiny", seed=3)
    c = build_pipeline("tiny", seed=4)
    weight = "conv_in.weight"
    assert torch.equal(a.unet.state_dict()[weight], b.unet.state_dict()[weight])
    assert not torch.equal(a.unet.state_dict()[weight], c.unet.state_dict()[weight])
