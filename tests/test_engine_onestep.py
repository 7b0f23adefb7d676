"""The single-step engine against the diffusers pipelines, on the tiny pipeline and the CPU."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image
from PIL import Image
from pydantic import ValidationError

from common.protocol import GenerationRequest
from testing.synthetic import build_tiny_decoder
from worker.config import ModelSettings, SpeedSettings
from worker.devices import resolve_vae_dtype
from worker.engine import Engine, enlarged, load_engine
from worker.graphs import Graphs
from worker.play import source_image
from worker.step import image_to_image_step, schedule_length, text_to_image_step

if TYPE_CHECKING:
    from pathlib import Path

FOX = GenerationRequest(prompt="a red fox", seed=7)


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))


@pytest.fixture(scope="module")
def reference(tiny_model: Path) -> AutoPipelineForText2Image:
    """The stock diffusers pipeline on the same weights, untouched by the engine's tuning."""
    pipe = AutoPipelineForText2Image.from_pretrained(str(tiny_model))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rows = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    return Image.fromarray(rows)


def _as_uint8(images: torch.Tensor) -> torch.Tensor:
    """diffusers' "pt" output (float in [0, 1]) as the engine's uint8 pixels."""
    return (images * 255).round().to(torch.uint8)


def _same_picture(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal up to one level in a few pixels: float32 sums ordered differently (fused QKV,
    x0 in one expression instead of the scheduler's three) move values by ~1e-6."""
    diff = (a.int() - b.int()).abs()
    assert int(diff.max()) <= 1
    assert float((diff > 0).float().mean()) < 0.01


def test_text_to_image_matches_the_diffusers_pipeline(
    engine: Engine, reference: AutoPipelineForText2Image
) -> None:
    expected = reference(
        prompt=FOX.prompt,
        num_inference_steps=1,
        guidance_scale=0.0,
        generator=torch.Generator().manual_seed(FOX.seed),
        output_type="pt",
    ).images
    made = engine.pixels([FOX])
    _same_picture(made, _as_uint8(expected))
    assert float(made.float().std()) > 10  # a picture, not a flat field


def test_image_to_image_matches_the_diffusers_pipeline(
    engine: Engine, reference: AutoPipelineForText2Image, photo: Image.Image
) -> None:
    expected = AutoPipelineForImage2Image.from_pipe(reference)(
        prompt=FOX.prompt,
        image=photo,
        strength=0.5,
        num_inference_steps=2,
        guidance_scale=0.0,
        generator=torch.Generator().manual_seed(FOX.seed),
        output_type="pt",
    ).images
    _same_picture(engine.image_to_image([FOX], photo), _as_uint8(expected))


def test_an_image_to_image_batch_gives_each_request_what_it_gives_alone(
    engine: Engine, photo: Image.Image
) -> None:
    requests = [FOX, GenerationRequest(prompt="a lighthouse", seed=8)]
    batched = engine.image_to_image(requests, photo)
    alone = torch.cat([engine.image_to_image([r], photo) for r in requests])
    _same_picture(batched, alone)
    assert (batched[0].float() - batched[1].float()).abs().mean() > 1.0


def test_the_cpu_runs_the_step_eagerly_and_never_touches_cuda_graphs(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_graphs(*args: object, **kwargs: object) -> None:
        raise AssertionError("a CUDA graph was used on the CPU")

    monkeypatch.setattr(torch.cuda, "CUDAGraph", no_graphs)
    monkeypatch.setattr(torch.cuda, "graph", no_graphs)
    eager = load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))
    assert eager.graphs is None
    assert [done.batch for done in eager.warm_up()] == [1]
    assert eager.pixels([FOX]).shape == (1, 3, 512, 512)
    with pytest.raises(RuntimeError, match="CUDA graphs need a CUDA device"):
        Graphs(torch.device("cpu"))


def test_steps_are_read_once_from_the_scheduler(engine: Engine) -> None:
    scheduler = engine.pipe.scheduler
    text = text_to_image_step(scheduler)
    # SDXL Turbo's trailing spacing: one step from t=999, image-to-image from t=499.
    assert text.timestep == 999.0
    # init_noise_sigma: with trailing spacing, the largest sigma itself.
    assert text.noise_scale == pytest.approx(text.sigma) == pytest.approx(14.6146, abs=1e-3)
    image = image_to_image_step(scheduler, 0.5)
    assert (image.timestep, image.noise_scale) == (499.0, image.sigma)
    assert image.sigma < text.sigma
    # The pipeline's own scheduler is not set up by any of this.
    assert scheduler.num_inference_steps is None


def test_strengths_other_than_one_step_are_refused_before_the_gpu() -> None:
    # Image-to-image keeps SDXL Turbo's [0.5, 1); lower strengths are the 2× refinement's.
    for strength in (0.3, 1.0):
        with pytest.raises(ValidationError):
            GenerationRequest(prompt="x", seed=1, source="k", strength=strength)


def test_the_input_image_must_be_the_512_square_the_bot_stores() -> None:
    def jpeg(size: tuple[int, int]) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", size, (10, 20, 30)).save(out, format="JPEG")
        return out.getvalue()

    assert source_image(jpeg((512, 512))).size == (512, 512)
    with pytest.raises(ValueError, match="must be 512×512, not 900×600"):
        source_image(jpeg((900, 600)))
    with pytest.raises(ValueError, match="cannot be read"):
        source_image(b"not an image")


@pytest.mark.parametrize(
    ("setting", "model", "overflows", "device", "expected"),
    [
        # The published SDXL VAE in a float16 pipeline: bfloat16 on CUDA, no float32 copy.
        ("auto", torch.float16, True, "cuda", torch.bfloat16),
        ("auto", torch.float16, True, "mps", torch.float32),
        # An fp16-fixed VAE (VAE_ID) keeps float16; a float32 pipeline stays float32.
        ("auto", torch.float16, False, "cuda", torch.float16),
        ("auto", torch.float32, True, "cpu", torch.float32),
        ("float32", torch.float16, True, "cuda", torch.float32),
    ],
)
def test_vae_precision(
    setting: str, model: torch.dtype, overflows: bool, device: str, expected: torch.dtype
) -> None:
    assert resolve_vae_dtype(setting, model, overflows, torch.device(device)) == expected


UP = FOX.model_copy(update={"upscale": 0.3})


def _diffusers_upscale(
    reference: AutoPipelineForText2Image, request: GenerationRequest, base: torch.Tensor
) -> torch.Tensor:
    """diffusers' own img2img over the Lanczos enlargement of `base`: the 2× recipe."""
    steps = schedule_length(request.upscale)
    images: torch.Tensor = AutoPipelineForImage2Image.from_pipe(reference)(
        prompt=request.prompt,
        image=enlarged(base[0], request.output_size),
        strength=request.upscale,
        num_inference_steps=steps,
        guidance_scale=0.0,
        generator=torch.Generator().manual_seed(request.seed),
        output_type="pt",
    ).images
    return _as_uint8(images)


def test_an_upscale_is_diffusers_img2img_over_the_lanczos_enlargement(
    engine: Engine, reference: AutoPipelineForText2Image
) -> None:
    made = engine.upscale([UP])
    assert made.shape == (1, 3, 1024, 1024)
    _same_picture(made, _diffusers_upscale(reference, UP, engine.pixels([FOX])))
    # The refinement changes the enlargement, and the same request gives the same pixels.
    lanczos = torch.from_numpy(np.array(enlarged(engine.pixels([FOX])[0], (1024, 1024))))
    assert float((made[0].permute(1, 2, 0).float() - lanczos.float()).abs().mean()) > 1.0
    assert torch.equal(made, engine.upscale([UP]))


def test_an_image_to_image_upscale_starts_from_that_picture(
    engine: Engine, reference: AutoPipelineForText2Image, photo: Image.Image
) -> None:
    request = UP.model_copy(update={"source": "k"})
    made = engine.upscale([request], photo)
    base = engine.image_to_image([FOX.model_copy(update={"source": "k"})], photo)
    _same_picture(made, _diffusers_upscale(reference, request, base))


@pytest.fixture(scope="module")
def taesd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("taesd")
    build_tiny_decoder("tiny").save_pretrained(path)
    return path


def _fast(tiny_model: Path, taesd: Path) -> Engine:
    """A fresh engine whose photos are decoded by the tiny decoder."""
    speed = SpeedSettings(tiny_vae=True, tiny_vae_id=str(taesd))
    return load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"), speed)


def test_an_upscale_decodes_with_the_full_vae_behind_the_tiny_decoder(
    tiny_model: Path, taesd: Path, reference: AutoPipelineForText2Image, engine: Engine
) -> None:
    fast = _fast(tiny_model, taesd)
    # The 512 picture is the tiny decoder's (what the photo showed); its 2× is the full VAE's.
    base = fast.pixels([FOX])
    assert not torch.equal(base, engine.pixels([FOX]))
    _same_picture(fast.upscale([UP]), _diffusers_upscale(reference, UP, base))


def test_the_512_path_is_the_same_before_and_after_an_upscale(
    tiny_model: Path, taesd: Path, photo: Image.Image
) -> None:
    fast = _fast(tiny_model, taesd)
    lighthouse = GenerationRequest(prompt="a lighthouse", seed=8, source="k")
    before = fast.pixels([FOX]), fast.image_to_image([lighthouse], photo)
    fast.upscale([UP])
    fast.upscale([UP.model_copy(update={"upscale": 0.5})], photo)
    after = fast.pixels([FOX]), fast.image_to_image([lighthouse], photo)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_upscale_requests_are_checked_before_the_gpu(engine: Engine) -> None:
    assert UP.output_size == (1024, 1024) and FOX.output_size == (512, 512)
    for bad in ({"upscale": 0.01}, {"upscale": 0.95}, {"upscale": 0.3, "width": 640}):
        with pytest.raises(ValidationError):
            GenerationRequest(prompt="x", seed=1, **bad)
    with pytest.raises(ValueError, match=r"Engine\.upscale"):
        engine.pixels([UP])
    with pytest.raises(ValueError, match="must name its strength"):
        engine.upscale([FOX])


@pytest.mark.parametrize(
    ("strength", "steps"), [(0.5, 2), (0.7, 2), (0.3, 4), (0.25, 4), (0.1, 10), (0.05, 20)]
)
def test_a_strength_gives_one_step_of_the_schedule_diffusers_would_run(
    engine: Engine, strength: float, steps: int
) -> None:
    assert schedule_length(strength) == steps
    step = image_to_image_step(engine.pipe.scheduler, strength)
    fresh = type(engine.pipe.scheduler).from_config(engine.pipe.scheduler.config)
    fresh.set_timesteps(steps)
    # The last step of that schedule: the lower the strength, the less noise.
    assert step.timestep == float(fresh.timesteps[-1])
    assert step.sigma == pytest.approx(float(fresh.sigmas[-2]))
