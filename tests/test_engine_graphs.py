"""The engine's CUDA graph decisions, driven on the CPU with stand-in graphs: a bucket whose
capture fails or whose replay differs from the eager step turns graphs off (the worker still
warms up and draws the same pictures), a broken device stops the start, and image-to-image
encodes its one input once whatever the batch."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pytest
import torch
from PIL import Image

from common.protocol import GenerationRequest
from testing.graphs import ReplayedOnCpu, WrongReplay, broken_device_capture, failing_capture
from worker.config import ModelSettings, SpeedSettings
from worker.engine import Engine, load_engine
from worker.graphs import Graphs
from worker.metrics import CUDA_GRAPHS
from worker.textcache import TextEncoders

if TYPE_CHECKING:
    from pathlib import Path

CPU = torch.device("cpu")
REQUESTS = [GenerationRequest(prompt=f"a fox, take {i}", seed=i) for i in range(3)]


def _engine(tiny_model: Path, capture: Any) -> tuple[Engine, Graphs]:
    """The tiny pipeline's engine on the CPU with the given graphs, batches up to 4."""
    eager = load_engine(
        ModelSettings(model_id=str(tiny_model), device="cpu"), SpeedSettings(max_batch=4)
    )
    graphs = Graphs(CPU, capture=capture)
    engine = Engine(eager.pipe, CPU, speed=eager.speed, graphs=graphs)
    return engine, graphs


@pytest.fixture(scope="module")
def reference(tiny_model: Path) -> Engine:
    """The same weights, eager: what every engine here must draw."""
    return load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rows = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    return Image.fromarray(rows)


def _same_picture(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal up to one level in a few pixels: a batch of four (padded) sums in another order
    than a batch of three."""
    diff = (a.int() - b.int()).abs()
    assert int(diff.max()) <= 1
    assert float((diff > 0).float().mean()) < 0.01


def _graphs_used(graphs: Graphs) -> int:
    return sum(graph.replays for graph in graphs._graphs.get("text", []))  # type: ignore[attr-defined]


def test_captured_graphs_replay_and_draw_what_the_eager_step_draws(
    tiny_model: Path, reference: Engine, photo: Image.Image
) -> None:
    engine, graphs = _engine(tiny_model, ReplayedOnCpu)
    assert [done.batch for done in engine.warm_up()] == [1, 2, 4]

    assert engine.graphs is graphs and CUDA_GRAPHS._value.get() == 1
    assert graphs.sizes("text") == [1, 2, 4]
    before = _graphs_used(graphs)
    _same_picture(engine.pixels(REQUESTS), reference.pixels(REQUESTS))
    assert _graphs_used(graphs) == before + 1  # three rows, padded into the graph of four
    _same_picture(
        engine.image_to_image(REQUESTS, photo), reference.image_to_image(REQUESTS, photo)
    )


@pytest.mark.parametrize(
    ("capture", "why"),
    [
        (failing_capture, "capturing batch 1 failed: RuntimeError"),
        (WrongReplay, "the text graph at batch 1 differs from the eager step by up to"),
    ],
    ids=["capture-raises", "replay-differs"],
)
def test_a_graph_that_fails_or_differs_turns_graphs_off_and_the_worker_draws_eagerly(
    tiny_model: Path,
    reference: Engine,
    caplog: pytest.LogCaptureFixture,
    capture: Any,
    why: str,
) -> None:
    engine, graphs = _engine(tiny_model, capture)
    with caplog.at_level(logging.WARNING, logger="worker.engine"):
        warmed = engine.warm_up()

    assert [done.batch for done in warmed] == [1, 2, 4]
    assert engine.graphs is None and graphs.sizes("text") == []
    assert CUDA_GRAPHS._value.get() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # The text encoders' graph fails first, on its own; then the step's, once.
    assert len(warnings) == 2 and warnings[0].startswith("the text encoders run eagerly: ")
    assert "CUDA graphs off, the step runs eagerly" in warnings[1] and why in warnings[1]
    _same_picture(engine.pixels(REQUESTS), reference.pixels(REQUESTS))


def test_a_capture_that_broke_the_device_stops_the_start(tiny_model: Path) -> None:
    engine, _ = _engine(tiny_model, broken_device_capture)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        engine.warm_up()


def test_image_to_image_encodes_its_input_once_for_every_row(
    tiny_model: Path, reference: Engine, photo: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = load_engine(ModelSettings(model_id=str(tiny_model), device="cpu"))
    encoded: list[int] = []
    encode = engine.pipe.vae.encode

    def counting(pixels: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        encoded.append(len(pixels))
        return encode(pixels, *args, **kwargs)

    monkeypatch.setattr(engine.pipe.vae, "encode", counting)
    four = [*REQUESTS, GenerationRequest(prompt="a lighthouse", seed=9)]
    batched = engine.image_to_image(four, photo)

    assert encoded == [1]
    _same_picture(batched, torch.cat([reference.image_to_image([r], photo) for r in four]))


def test_the_text_encoders_over_token_ids_equal_diffusers_encode_prompt(
    reference: Engine,
) -> None:
    prompts = ["a red fox in the snow", "рыжая лиса", "a lighthouse " * 40]  # one truncated
    embeds, pooled = reference.encoders.unpack(
        reference.encoders(*reference.encoders.tokenize(prompts))
    )
    expected, _, expected_pooled, _ = reference.pipe.encode_prompt(
        prompt=prompts, device=CPU, do_classifier_free_guidance=False
    )
    assert torch.equal(embeds, expected) and torch.equal(pooled, expected_pooled)


def test_uncached_prompts_go_through_the_encoders_graph_and_cached_ones_skip_it(
    tiny_model: Path, reference: Engine
) -> None:
    engine, graphs = _engine(tiny_model, ReplayedOnCpu)
    engine.warm_up()
    assert graphs.sizes("encoders") == [1, 2, 4]
    encoders = cast("list[ReplayedOnCpu]", graphs._graphs["encoders"])

    def replays() -> int:
        return sum(graph.replays for graph in encoders)

    before = replays()
    _same_picture(engine.pixels(REQUESTS), reference.pixels(REQUESTS))
    assert replays() == before + 1  # three new prompts: one replay of the graph of four
    engine.pixels(REQUESTS)
    assert replays() == before + 1  # all cached now


def test_text_encoders_that_cannot_be_captured_run_eagerly_and_the_step_keeps_its_graphs(
    tiny_model: Path, reference: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    def encoders_fail(fn: Any, example: Any, pool: Any, shared: int = 0) -> ReplayedOnCpu:
        if isinstance(fn, TextEncoders):
            raise RuntimeError("operation not permitted when stream is capturing")
        return ReplayedOnCpu(fn, example, pool, shared)

    engine, graphs = _engine(tiny_model, encoders_fail)
    with caplog.at_level(logging.WARNING, logger="worker.engine"):
        engine.warm_up()

    assert engine.graphs is graphs and graphs.sizes("text") == [1, 2, 4]
    assert graphs.sizes("encoders") == [] and not engine.encoders_in_graphs
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "the text encoders run eagerly: capturing them at batch 1 failed: "
        "RuntimeError('operation not permitted when stream is capturing')"
    ]
    _same_picture(engine.pixels(REQUESTS), reference.pixels(REQUESTS))


def test_an_upscale_runs_beside_the_graphs_and_leaves_them_as_they_were(
    tiny_model: Path, reference: Engine
) -> None:
    engine, graphs = _engine(tiny_model, ReplayedOnCpu)
    engine.warm_up()
    names = sorted(graphs._graphs)
    before = engine.pixels(REQUESTS)
    used = _graphs_used(graphs)
    request = REQUESTS[0].model_copy(update={"upscale": 0.3})
    _same_picture(engine.upscale([request]), reference.upscale([request]))
    # Its 512 picture replayed the graph of one; the 1024 step captured nothing of its own.
    assert _graphs_used(graphs) == used + 1
    assert sorted(graphs._graphs) == names and graphs.sizes("text") == [1, 2, 4]
    assert torch.equal(engine.pixels(REQUESTS), before)
