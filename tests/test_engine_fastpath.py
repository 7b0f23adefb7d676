"""The worker's fast path on the tiny pipeline: batching, the text cache, fusion, tiny VAE, and
the JPEG encoder's GPU path with its Pillow fallback (a stand-in for nvJPEG on the CPU)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest
import torch
from PIL import Image

from common.protocol import GenerationRequest
from testing.synthetic import build_tiny_decoder
from worker.config import ModelSettings, SpeedSettings
from worker.engine import Engine, load_engine
from worker.fastpath import JpegEncoder
from worker.graphs import buckets

if TYPE_CHECKING:
    from pathlib import Path

REQUESTS = [
    GenerationRequest(prompt="a red fox", seed=7),
    GenerationRequest(prompt="a lighthouse at dusk", seed=8),
    GenerationRequest(prompt="a red fox", seed=9),
]


def _engine(model: Path, **speed: Any) -> Engine:
    return load_engine(ModelSettings(model_id=str(model), device="cpu"), SpeedSettings(**speed))


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return _engine(tiny_model, max_batch=4, text_cache_size=2)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal up to one quantisation level in a few pixels (see the batching test)."""
    diff = (a.int() - b.int()).abs()
    assert int(diff.max()) <= 1
    assert float((diff > 0).float().mean()) < 0.01


def test_a_batch_gives_each_request_what_it_gives_alone(engine: Engine) -> None:
    batched = engine.pixels(REQUESTS)
    assert batched.shape == (3, 3, 512, 512)
    assert batched.dtype == torch.uint8
    alone = torch.cat([engine.pixels([request]) for request in REQUESTS])
    # The seeded noise, the prompts' embeddings and the scheduler are identical row by row; only
    # oneDNN/MKL reductions are blocked differently for another batch size, which moves float32
    # sums by ~1e-5 and, where a value sits on a rounding edge, a pixel by one level.
    _close(batched, alone)
    # Same prompt, other seed: another picture, so each row really used its own generator.
    assert (batched[0].float() - batched[2].float()).abs().mean() > 1.0


def test_repeated_prompts_hit_the_bounded_text_cache(engine: Engine) -> None:
    cache = engine.text
    before = (cache.hits, cache.misses)
    first = engine.pixels([REQUESTS[1]])
    again = engine.pixels([REQUESTS[1]])
    assert torch.equal(first, again)
    assert cache.hits - before[0] >= 1
    engine.pixels([GenerationRequest(prompt=f"prompt {i}", seed=1) for i in range(3)])
    assert len(cache) == cache.size == 2


def test_cache_off_changes_nothing(tiny_model: Path, engine: Engine) -> None:
    uncached = _engine(tiny_model, text_cache_size=0)
    assert torch.equal(uncached.pixels(REQUESTS[:1]), engine.pixels(REQUESTS[:1]))
    assert len(uncached.text) == 0


def test_fused_qkv_computes_the_same_function(tiny_model: Path, engine: Engine) -> None:
    fused = _engine(tiny_model, fuse_qkv=True)
    processor = "mid_block.attentions.0.transformer_blocks.0.attn1.processor"
    assert type(fused.pipe.unet.attn_processors[processor]).__name__ == "FusedAttnProcessor2_0"
    assert type(engine.pipe.unet.attn_processors[processor]).__name__ != "FusedAttnProcessor2_0"
    _close(fused.pixels(REQUESTS[:1]), engine.pixels(REQUESTS[:1]))


def test_tiny_vae_decodes_to_a_512_jpeg(tiny_model: Path, tmp_path: Path) -> None:
    build_tiny_decoder("tiny").save_pretrained(tmp_path / "taesd")
    fast = _engine(tiny_model, tiny_vae=True, tiny_vae_id=str(tmp_path / "taesd"))
    assert type(fast.vae).__name__ == "AutoencoderTiny"
    (data,) = fast.generate(REQUESTS[:1])
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("JPEG", (512, 512))


def test_a_batch_of_jpegs_comes_back_in_request_order(engine: Engine) -> None:
    images = engine.generate(REQUESTS)
    assert images == [engine.jpeg.encode(engine.pixels(REQUESTS)[i : i + 1])[0] for i in range(3)]


def test_buckets_are_powers_of_two_and_the_cap() -> None:
    # Graphs and compiled kernels are per batch size; batches pad up to the next bucket.
    assert buckets(8) == [1, 2, 4, 8]
    assert buckets(6) == [1, 2, 4, 6]
    assert buckets(1) == [1]


def test_mixed_sizes_are_refused_in_one_call(engine: Engine) -> None:
    with pytest.raises(ValueError, match="share its image size"):
        engine.pixels([REQUESTS[0], GenerationRequest(prompt="x", seed=1, width=256)])


def test_compiled_engines_pad_every_call_to_a_warmed_size(
    tiny_model: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch.compile itself takes minutes on the CPU; the padding around it is what is tested,
    # so "compiling" here returns the module unchanged and hooks record each call's batch size.
    monkeypatch.setattr("worker.engine.compiled", lambda module, mode: module)
    padded = _engine(tiny_model, compile="default", max_batch=4)
    sizes: dict[str, list[int]] = {"unet": [], "text_encoder": [], "text_encoder_2": []}
    for name, seen in sizes.items():
        getattr(padded.pipe, name).register_forward_pre_hook(
            lambda _module, args, seen=seen: seen.append(args[0].shape[0])
        )
    padded.warm_up()
    assert sizes["unet"] == [1, 2, 4]
    for seen in sizes.values():
        seen.clear()
    requests = [GenerationRequest(prompt=f"a new prompt {i}", seed=i) for i in range(3)]
    images = padded.pixels(requests)
    # Three requests run as a batch of four (the padding row is dropped); the text encoders,
    # never compiled, see just the three new prompts.
    assert images.shape[0] == 3
    assert sizes == {"unet": [4], "text_encoder": [3], "text_encoder_2": [3]}
    _close(images, engine.pixels(requests))


@pytest.fixture
def cpu() -> torch.device:
    return torch.device("cpu")


def _gpu_stand_in(calls: list[int]) -> Any:
    """torchvision.io.encode_jpeg's contract (a list of CHW uint8 tensors in, a list of 1-D
    uint8 JPEG tensors out), made with Pillow on the CPU."""

    def encode(images: list[torch.Tensor], quality: int) -> list[torch.Tensor]:
        calls.append(len(images))
        out = []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, "JPEG", quality=quality)
            out.append(torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8))
        return out

    return encode


def _jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


PICTURES = torch.randint(0, 256, (2, 3, 64, 48), dtype=torch.uint8)


def test_a_working_gpu_encoder_passes_the_probe_and_encodes(cpu: torch.device) -> None:
    calls: list[int] = []
    encoder = JpegEncoder(90, True, cpu, gpu_encode=_gpu_stand_in(calls))
    encoder.probe()
    assert encoder.on_gpu and calls == [1]
    assert [_jpeg_size(data) for data in encoder.encode(PICTURES)] == [(48, 64)] * 2
    assert calls == [1, 2]


def test_a_gpu_encoder_that_cannot_work_is_replaced_by_pillow_at_the_probe(
    cpu: torch.device, caplog: pytest.LogCaptureFixture
) -> None:
    def cpu_only_build(images: list[torch.Tensor], quality: int) -> list[torch.Tensor]:
        raise RuntimeError("encode_jpeg: torchvision was not compiled with CUDA support")

    encoder = JpegEncoder(90, True, cpu, gpu_encode=cpu_only_build)
    with caplog.at_level("WARNING", logger="worker.fastpath"):
        encoder.probe()
    assert not encoder.on_gpu
    assert "GPU JPEG encoding failed" in caplog.text and "Pillow" in caplog.text
    assert [_jpeg_size(data) for data in encoder.encode(PICTURES)] == [(48, 64)] * 2


def test_a_gpu_encoder_failing_later_falls_back_for_that_call_too(cpu: torch.device) -> None:
    calls: list[int] = []
    working = _gpu_stand_in(calls)

    def fails_second_time(images: list[torch.Tensor], quality: int) -> list[torch.Tensor]:
        if calls:
            raise NotImplementedError("no nvJPEG kernel for this device")
        encoded: list[torch.Tensor] = working(images, quality)
        return encoded

    encoder = JpegEncoder(90, True, cpu, gpu_encode=fails_second_time)
    encoder.probe()
    assert encoder.on_gpu
    assert len(encoder.encode(PICTURES)) == 2 and not encoder.on_gpu


def test_a_broken_device_while_encoding_is_not_papered_over(cpu: torch.device) -> None:
    def broken(images: list[torch.Tensor], quality: int) -> list[torch.Tensor]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    encoder = JpegEncoder(90, True, cpu, gpu_encode=broken)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        encoder.probe()
