"""Model benchmark: a plain diffusers call against the worker's engine, same run, alternating.

Prompt in, JPEG bytes out, on a random-weight SDXL Turbo pipeline (`testing.synthetic`: same
shapes as the published model, hence the same FLOPs). Every engine variant gets a freshly built
pipeline (the engine tunes modules in place); the plain pipeline is built once and left stock.
Each prompt is new, so the text cache never helps the engine here unless the variant says `hot`.
Besides speed it prints start-up (graph capture) time and peak GPU memory per batch size, the
engine's agreement with the plain pipeline for the same prompt and seed, and the targets.

    python -m bench.model --preset tiny                                   # CPU, seconds
    python -m bench.model --preset full --device cuda --dtype float16 \\
        --variants bf16dec fp32dec fp16vae tinyvae+gpujpeg
"""

from __future__ import annotations

import argparse
import gc
import io
import itertools
import time
from typing import TYPE_CHECKING, Any

import torch
from diffusers import AutoPipelineForImage2Image
from PIL import Image

from bench.checks import GIB, agreement, engine_peaks, finite, targets
from bench.report import append, median, percentile, table
from common.protocol import GenerationRequest
from testing.synthetic import build_pipeline, build_tiny_decoder
from worker.config import SpeedSettings
from worker.engine import Engine

if TYPE_CHECKING:
    from collections.abc import Callable

_counter = itertools.count()
# The input picture of the image-to-image rows, for the engine and the plain pipeline alike.
PHOTO = Image.effect_noise((512, 512), 64).convert("RGB")
VAE_DTYPES = {"fp32dec": torch.float32, "bf16dec": torch.bfloat16, "fp16vae": torch.float16}


def _prompts(batch: int) -> list[str]:
    return [f"a lighthouse on a cliff at sunset, study {next(_counter)}" for _ in range(batch)]


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def plain_call(pipe: Any, tokens: set[str]) -> Callable[[int], list[bytes]]:
    """What a diffusers user writes: the pipeline call, then Pillow's JPEG encoder; with
    `i2i`, the image-to-image pipeline on the same input picture as the engine's (strength
    0.5 of two steps: the one step the engine makes)."""
    if "i2i" in tokens:
        img2img = AutoPipelineForImage2Image.from_pipe(pipe)

        def from_photo(batch: int) -> list[bytes]:
            out = img2img(
                prompt=_prompts(batch),
                image=[PHOTO] * batch,
                strength=0.5,
                num_inference_steps=2,
                guidance_scale=0.0,
            )
            return [_jpeg(image) for image in out.images]

        return from_photo

    def run(batch: int) -> list[bytes]:
        out = pipe(prompt=_prompts(batch), num_inference_steps=1, guidance_scale=0.0)
        return [_jpeg(image) for image in out.images]

    return run


def engine_call(engine: Engine, tokens: set[str]) -> Callable[[int], list[bytes]]:
    """hot: the same few prompts again and again (cache hits); i2i: image-to-image."""

    def run(batch: int) -> list[bytes]:
        prompts = [f"popular prompt {i}" for i in range(batch)] if "hot" in tokens else None
        requests = [
            GenerationRequest(prompt=p, seed=next(_counter) % 1000)
            for p in prompts or _prompts(batch)
        ]
        if "i2i" in tokens:
            return engine.encode(engine.image_to_image(requests, PHOTO), "jpeg")
        return engine.generate(requests)

    return run


def build_engine(args: argparse.Namespace, tokens: set[str], shared: Any | None) -> Engine:
    """Tokens: decoder vae (as built), bf16dec (the default on CUDA), fp32dec, fp16vae (as with
    VAE_ID), tinyvae; switches gpujpeg, nofuse, nochl, nocache, nographs, compile:<mode>, and
    hot and i2i for the calls."""
    dtype, device = getattr(torch, args.dtype), torch.device(args.device)
    pipe = shared or build_pipeline(args.preset, dtype=dtype, device=device)
    for token, vae_dtype in VAE_DTYPES.items():
        if token in tokens:
            torch.nn.Module.to(pipe.vae, dtype=vae_dtype)
    decoder = None
    if "tinyvae" in tokens:
        decoder = build_tiny_decoder(args.preset, dtype=dtype, device=device)
    modes = [t.split(":", 1)[1] for t in tokens if t.startswith("compile:")]
    speed = SpeedSettings(
        max_batch=max(args.batches),
        channels_last="nochl" not in tokens,
        fuse_qkv="nofuse" not in tokens,
        text_cache_size=0 if "nocache" in tokens else 256,
        gpu_jpeg="gpujpeg" in tokens,
        cuda_graphs="nographs" not in tokens,
        compile=modes[0] if modes else "off",
    )
    return Engine(pipe, device, 95, speed, decoder)


def measure(
    calls: dict[str, Callable[[int], list[bytes]]], args: argparse.Namespace
) -> dict[tuple[str, int], list[float]]:
    """Seconds per call, the callers interleaved so drift hits all of them alike."""
    times: dict[tuple[str, int], list[float]] = {}
    for batch in args.batches:
        for call in calls.values():
            for _ in range(args.warm):
                call(batch)
        for _ in range(args.iters):
            for name, call in calls.items():
                started = time.perf_counter()
                images = call(batch)
                times.setdefault((name, batch), []).append(time.perf_counter() - started)
                assert len(images) == batch and all(images)
    return times


def run_variant(
    args: argparse.Namespace, variant: str, plain_pipe: Any
) -> tuple[list[list[object]], str]:
    tokens = set(variant.split("+"))
    cuda = args.device.startswith("cuda")
    base = torch.cuda.memory_allocated() if cuda else 0
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    engine = build_engine(args, tokens, plain_pipe if args.shared else None)
    warm = engine.warm_up()
    startup = f"start-up {variant}: build {time.perf_counter() - started:.1f} s; " + ", ".join(
        f"batch {w.batch} {w.seconds:.1f} s / "
        + (f"{max(0, w.peak_bytes - base) / GIB:.2f} GiB" if cuda else "memory n/a off CUDA")
        for w in warm
    )
    agree = "n/a (other decoder)" if "tinyvae" in tokens else agreement(plain_pipe, engine)
    decodes = finite(engine)
    calls = {"plain": plain_call(plain_pipe, tokens), variant: engine_call(engine, tokens)}
    peaks = engine_peaks(calls[variant], args.batches, base)
    times = measure(calls, args)
    rows: list[list[object]] = []
    for batch, peak in zip(args.batches, peaks, strict=True):
        plain, fast = times[("plain", batch)], times[(variant, batch)]
        rows.append(
            [
                variant,
                batch,
                f"{median(plain) * 1000 / batch:.1f}",
                f"{median(fast) * 1000 / batch:.1f}",
                f"{percentile(fast, 99) * 1000:.1f}",
                f"{batch / (sum(plain) / len(plain)):.2f}",
                f"{batch / (sum(fast) / len(fast)):.2f}",
                f"{median(plain) / median(fast):.2f}x",
                peak,
                decodes,
                agree,
            ]
        )
    del engine
    gc.collect()
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    # The targets are for the full architecture on a GPU; elsewhere they would only mislead.
    judged = args.preset == "full" and args.device.startswith("cuda")
    return rows, startup + ("\n" + targets(variant, rows) if judged else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preset", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warm", type=int, default=2, help="untimed calls per shape first")
    parser.add_argument("--variants", nargs="+", default=["vae"])
    parser.add_argument(
        "--shared",
        action="store_true",
        help="one pipeline for all (saves memory; the plain call then runs on tuned modules)",
    )
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    dtype, device = getattr(torch, args.dtype), torch.device(args.device)
    torch.manual_seed(0)
    plain_pipe = build_pipeline(args.preset, dtype=dtype, device=device)
    plain_pipe.set_progress_bar_config(disable=True)
    rows: list[list[object]] = []
    notes: list[str] = []
    for variant in args.variants:
        variant_rows, note = run_variant(args, variant, plain_pipe)
        rows += variant_rows
        notes.append(note)
        print(table(HEADER, variant_rows) + "\n" + note, flush=True)
    body = "\n".join([table(HEADER, rows), "", "```", *notes, "```", NOTES.format(**vars(args))])
    if not args.no_append:
        append(f"Model: {args.preset} pipeline, {args.device}, {args.dtype}", "bench.model", body)
    else:
        print(body)


HEADER = [
    "engine variant",
    "batch",
    "plain ms/img (p50)",
    "engine ms/img (p50)",
    "engine p99 ms/call",
    "plain img/s",
    "engine img/s",
    "speed-up (p50)",
    "engine peak GiB",
    "decoder finite",
    "vs plain (levels)",
]
NOTES = """
{iters} timed calls per cell after {warm} warm-up calls per shape, the plain diffusers call
(`pipe(prompt, num_inference_steps=1, guidance_scale=0.0)` + Pillow JPEG) and the engine's
`Engine.generate` alternating on identical random-weight `{preset}` pipelines, after the
engine's own warm-up (which captures its CUDA graphs). ms/img = median call time / batch;
img/s = batch / mean call time; engine peak GiB = most GPU memory the engine allocated while
making that batch size alone (its weights and graph pool included). Start-up lines: per
bucket, its warm-up (capture) time and the engine's peak memory so far, which is about what
`MAX_BATCH` = that bucket needs (plus the CUDA context, ~0.5 GB). "vs plain": the engine's picture
against the plain pipeline's for one prompt and seed, in uint8 levels.
"""


if __name__ == "__main__":
    main()
