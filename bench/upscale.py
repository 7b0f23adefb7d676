"""Upscale benchmark: the engine time of a 🔍 2× picture, split into its stages, same run.

A 2× is the 512 picture drawn again (its photo's own engine time), Lanczos to 1024 on the
host, then one eager image-to-image step at 1024 (VAE encode, UNet, full VAE decode). Each
iteration times the three stages one after another on a new prompt, then the whole
`Engine.upscale` call on another; the 512 path is checked to give the same pixels before and
after. Random-weight pipelines from `testing.synthetic` (`full`: the published shapes, hence
the same FLOPs).

    python -m bench.upscale --preset tiny                      # CPU, seconds
    python -m bench.upscale --preset full --iters 1 --no-call  # CPU, the full architecture
    python -m bench.upscale --preset full --device cuda        # a GPU (float16)
"""

from __future__ import annotations

import argparse
import itertools
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from bench.report import append, median, table
from common.protocol import GenerationRequest
from testing.synthetic import build_pipeline
from worker.config import SpeedSettings
from worker.engine import Engine, enlarged

if TYPE_CHECKING:
    from collections.abc import Callable

STRENGTH = 0.3
_counter = itertools.count()


def _request() -> GenerationRequest:
    n = next(_counter)
    return GenerationRequest(prompt=f"a lighthouse at dusk, study {n}", seed=n, upscale=STRENGTH)


def measure(engine: Engine, iters: int, call: bool = True) -> dict[str, Any]:
    """Median milliseconds of each stage and of the whole call, with the device finished."""

    def sync() -> None:
        if engine.device.type == "cuda":
            torch.cuda.synchronize(engine.device)

    def timed(run: Callable[[], Any]) -> tuple[Any, float]:
        sync()
        started = time.perf_counter()
        out = run()
        sync()
        return out, (time.perf_counter() - started) * 1000

    stages: dict[str, list[float]] = {"photo": [], "lanczos": [], "refine": [], "call": []}
    probe = GenerationRequest(prompt="a red fox", seed=7)
    before = engine.pixels([probe])
    with torch.inference_mode():
        for _ in range(iters):
            request = _request()
            at_size = request.model_copy(update={"upscale": 0.0})
            base, ms = timed(partial(engine.pixels, [at_size]))
            stages["photo"].append(ms)
            big, ms = timed(partial(enlarged, base[0], request.output_size))
            stages["lanczos"].append(ms)
            _, ms = timed(partial(lambda r, b: engine.finish(engine._refined(r, b)), request, big))
            stages["refine"].append(ms)
            if call:
                _, ms = timed(lambda: engine.upscale([_request()]))
                stages["call"].append(ms)
    out: dict[str, Any] = {k: round(median(v), 1) for k, v in stages.items() if v}
    out["stages_sum"] = round(out["photo"] + out["lanczos"] + out["refine"], 1)
    out["vs_photo"] = round(out["stages_sum"] / out["photo"], 2)
    out["512_unchanged"] = bool(torch.equal(before, engine.pixels([probe])))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preset", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warm", type=int, default=1, help="untimed upscales first")
    parser.add_argument("--no-call", action="store_true", help="time the stages only")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    started = time.perf_counter()
    pipe = build_pipeline(args.preset, dtype=dtype, device=device)
    if device.type == "cuda":
        torch.nn.Module.to(pipe.vae, dtype=torch.bfloat16)  # the engine's default there
    engine = Engine(pipe, device, 95, SpeedSettings())
    engine.warm_up()
    built_s = time.perf_counter() - started
    for _ in range(args.warm):
        engine.upscale([_request()])
    figures = measure(engine, args.iters, call=not args.no_call)
    rows = [
        [
            args.preset,
            figures["photo"],
            figures["lanczos"],
            figures["refine"],
            figures["stages_sum"],
            figures.get("call", "—"),
            f"{figures['vs_photo']}x",
            "yes" if figures["512_unchanged"] else "NO",
        ]
    ]
    header = [
        "pipeline",
        "512 photo ms",
        "Lanczos ms",
        "1024 step ms",
        "2× engine ms",
        "Engine.upscale ms",
        "2× / photo",
        "512 path unchanged",
    ]
    body = "\n".join(
        [
            table(header, rows),
            "",
            f"Medians of {args.iters} iteration(s) after {args.warm} untimed upscale(s), each on "
            "a new prompt; built and warmed up in "
            f"{built_s:.1f} s. The 2× engine time is the three stages in a row: the 512 "
            "picture drawn again, Lanczos to 1024 on the host, one eager image-to-image step "
            f"at 1024 (strength {STRENGTH}: VAE encode, UNet, full VAE decode). "
            "`Engine.upscale` is the whole call on another prompt.",
        ]
    )
    title = f"Upscale: 🔍 2× engine time, {args.preset} pipeline, {device.type}"
    if args.no_append:
        print(body)
    else:
        append(title, "bench.upscale", body)


if __name__ == "__main__":
    main()
