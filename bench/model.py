"""Model benchmark: a plain diffusers call against the worker's path, same run, alternating.

Prompt in, JPEG bytes out, on a random-weight SDXL Turbo pipeline (`testing.synthetic`: same
shapes as the published model, hence the same FLOPs). Every worker variant gets a freshly built
pipeline (the fast path changes modules in place); the plain pipeline is built once and left
stock. Each prompt is new, so the text cache never helps the worker path here.

    python -m bench.model --preset tiny                                   # CPU, seconds
    python -m bench.model --preset full --device cuda --dtype float16 \\
        --variants fp32dec fp16vae tinyvae fp16vae+compile:reduce-overhead
"""

from __future__ import annotations

import argparse
import gc
import itertools
import time
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from bench.report import append, median, percentile, table
from common.protocol import GenerationRequest
from testing.synthetic import build_pipeline, build_tiny_decoder
from worker.config import SpeedSettings
from worker.engine import Engine

if TYPE_CHECKING:
    from collections.abc import Callable

_counter = itertools.count()


def _prompts(batch: int) -> list[str]:
    return [f"a lighthouse on a cliff at sunset, study {next(_counter)}" for _ in range(batch)]


def _jpeg(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def plain_call(pipe: Any) -> Callable[[int], list[bytes]]:
    """What a diffusers user writes: the pipeline call, then Pillow's JPEG encoder."""

    def run(batch: int) -> list[bytes]:
        out = pipe(prompt=_prompts(batch), num_inference_steps=1, guidance_scale=0.0)
        return [_jpeg(image) for image in out.images]

    return run


def worker_call(engine: Engine, hot: bool) -> Callable[[int], list[bytes]]:
    """hot: the same few prompts again and again (regenerate, popular prompts), cache hits."""

    def run(batch: int) -> list[bytes]:
        prompts = [f"popular prompt {i}" for i in range(batch)] if hot else _prompts(batch)
        return engine.generate(
            [GenerationRequest(prompt=p, seed=next(_counter) % 1000) for p in prompts]
        )

    return run


def build_engine(args: argparse.Namespace, variant: str, shared: Any | None) -> Engine:
    """Variant: '+'-joined tokens. Decoder: vae (as loaded), fp32dec, fp16vae, tinyvae;
    switches: gpujpeg, nofuse, nochl, nocache, hot (repeated prompts), compile:<mode>."""
    tokens = set(variant.split("+"))
    dtype, device = getattr(torch, args.dtype), torch.device(args.device)
    pipe = shared or build_pipeline(args.preset, dtype=dtype, device=device)
    decoder = pipe.vae
    if "fp32dec" in tokens:
        decoder = pipe.vae.to(torch.float32)
    if "tinyvae" in tokens:
        decoder = build_tiny_decoder(args.preset, dtype=dtype, device=device)
    modes = [t.split(":", 1)[1] for t in tokens if t.startswith("compile:")]
    speed = SpeedSettings(
        max_batch=max(args.batches),
        channels_last="nochl" not in tokens,
        fuse_qkv="nofuse" not in tokens,
        text_cache_size=0 if "nocache" in tokens else 256,
        gpu_jpeg="gpujpeg" in tokens,
        compile=modes[0] if modes else "off",
    )
    return Engine(pipe, device, 95, speed, decoder)


def _finite(engine: Engine) -> str:
    """Does this decoder give finite pixels from these latents (fp16 overflow check)?"""
    with torch.inference_mode():
        latents = torch.randn(1, 4, 64, 64, device=engine.device, dtype=engine.vae_dtype)
        out = engine.vae.decode(latents / engine.vae.config.scaling_factor, return_dict=False)[0]
        return "yes" if bool(torch.isfinite(out).all()) else "NO (overflow)"


def measure(
    calls: dict[str, Callable[[int], list[bytes]]], batches: list[int], iters: int, warm: int
) -> dict[tuple[str, int], list[float]]:
    """Seconds per call, the callers interleaved so drift hits all of them alike."""
    times: dict[tuple[str, int], list[float]] = {}
    for batch in batches:
        for call in calls.values():  # warm this shape (cuDNN autotuning, compile)
            for _ in range(warm):
                call(batch)
        for _ in range(iters):
            for name, call in calls.items():
                started = time.perf_counter()
                images = call(batch)
                times.setdefault((name, batch), []).append(time.perf_counter() - started)
                assert len(images) == batch and all(images)
    return times


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
    for variant in args.variants:
        started = time.perf_counter()
        engine = build_engine(args, variant, plain_pipe if args.shared else None)
        built_s = time.perf_counter() - started
        finite = _finite(engine)
        started = time.perf_counter()
        times = measure(
            {"plain": plain_call(plain_pipe), variant: worker_call(engine, "hot" in variant)},
            args.batches,
            args.iters,
            args.warm,
        )
        warm_s = time.perf_counter() - started - sum(sum(t) for t in times.values())
        for batch in args.batches:
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
                    finite,
                    f"{built_s:.1f} / {warm_s:.1f}",
                ]
            )
        print(table(HEADER, rows[-len(args.batches) :]), flush=True)
        del engine
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    body = (
        table(HEADER, rows)
        + "\n"
        + NOTES.format(iters=args.iters, warm=args.warm, preset=args.preset)
    )
    if not args.no_append:
        append(f"Model: {args.preset} pipeline, {args.device}, {args.dtype}", "bench.model", body)
    else:
        print(body)


HEADER = [
    "worker variant",
    "batch",
    "plain ms/img (p50)",
    "worker ms/img (p50)",
    "worker p99 ms/call",
    "plain img/s",
    "worker img/s",
    "speed-up (p50)",
    "decoder finite",
    "build / warm-up s",
]
NOTES = """
{iters} timed calls per cell after {warm} warm-up calls per shape, the plain diffusers call
(`pipe(prompt, num_inference_steps=1, guidance_scale=0.0)` + Pillow JPEG) and the worker's
`Engine.generate` alternating on identical random-weight `{preset}` pipelines. ms/img = median
call time / batch; img/s = batch / mean call time. Prompt in, JPEG bytes out.
"""


if __name__ == "__main__":
    main()
