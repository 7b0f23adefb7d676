"""What `bench.model` checks besides speed: finite decoding, agreement with the plain
pipeline, and the targets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from common.protocol import GenerationRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from worker.engine import Engine

# Per decoder: batch-1 p50 ms per image at most, images/s batched at least.
TARGETS = {"full VAE": (30.0, 50.0), "TINY_VAE": (15.0, 170.0)}
GIB = 2**30


@torch.inference_mode()
def finite(engine: Engine) -> str:
    """Does the decoder give finite pixels (the float16 overflow check)?"""
    latents = torch.randn(1, 4, 64, 64, device=engine.device)
    return "yes" if bool(torch.isfinite(engine.step.decode(latents)).all()) else "NO (overflow)"


@torch.inference_mode()
def agreement(plain: Any, engine: Engine) -> str:
    """Largest and mean difference, in uint8 levels, from the plain pipeline's picture."""
    request = GenerationRequest(prompt="a red fox in the snow", seed=7)
    generator = torch.Generator(engine.device).manual_seed(request.seed)
    out = plain(
        prompt=request.prompt,
        num_inference_steps=1,
        guidance_scale=0.0,
        generator=generator,
        output_type="pt",
    ).images
    diff = ((out * 255).round() - engine.pixels([request]).float()).abs()
    return f"max {diff.max():.0f}, mean {diff.mean():.2f}"


def targets(variant: str, rows: list[list[object]]) -> str:
    """The variant's batch-1 p50 and best batched rate against the targets for its decoder."""
    kind = "TINY_VAE" if "tinyvae" in variant else "full VAE"
    latency, rate = TARGETS[kind]
    one = [float(str(r[3])) for r in rows if r[1] == 1]
    best = max(rows, key=lambda r: float(str(r[6])))
    lines = [f"targets for {variant} ({kind}):"]
    if one:
        verdict = "met" if one[0] <= latency else "not met"
        lines.append(f"  batch 1 p50 {one[0]:.1f} ms (target <= {latency:.0f} ms): {verdict}")
    verdict = "met" if float(str(best[6])) >= rate else "not met"
    lines.append(f"  {best[6]} img/s at batch {best[1]} (target >= {rate:.0f}): {verdict}")
    return "\n".join(lines)


def engine_peaks(call: Callable[[int], list[bytes]], batches: list[int], base: int) -> list[str]:
    """GiB of GPU memory the engine held at most while making each batch size alone (its
    weights and graph pool included, the plain pipeline's weights not)."""
    if not torch.cuda.is_available():
        return ["n/a"] * len(batches)
    peaks = []
    for batch in batches:
        torch.cuda.reset_peak_memory_stats()
        call(batch)
        peaks.append(f"{(torch.cuda.max_memory_allocated() - base) / GIB:.2f}")
    return peaks
