"""The short GPU check: every figure the engine needs from a GPU, in one process, in minutes.

One random-weight build of the full SDXL Turbo architecture (`testing.synthetic`, fp16 on
CUDA), no compile. Each section runs in its own `try` and the JSON is written after each, so
a section that fails or a session that ends early keeps the others' figures:

    versions   torch, CUDA, GPU, driver
    plain      the stock diffusers call at batch 1: the baseline, same run
    engine     the defaults at batch 1 (new and cached prompts), 4 and 16: p50 ms, img/s,
               capture time and peak memory per bucket, whether graphs stayed on
    stages     batch 1 split: tokenise, text encoders, graph replay, uint8, safety, JPEG
    eager      the same step without graphs, batch 1 and 4
    vae        the decoder alone in bfloat16 (default) and float16, batch 1 and 4
    layout     channels_last and fused QKV on and off, eager, batch 4
    i2i        image-to-image with graphs, batch 1 and 4
    overlap    batches back to back, Pillow JPEGs encoded after each or during the next
    upscale    🔍 2× at batch 1: the 512 picture, Lanczos, the eager 1024 step, the whole
               call, its peak memory, and the 512 graphs' pixels before and after
    profile    the VAE decode's top CUDA kernels at batch 1
    tiny       the tiny decoder: batch 1 p50 and images/s at 32
    targets    the issue's targets judged from the figures above

    python -m bench.gpu_check --out DIR                       # on a GPU: DIR/gpu_check.json
    python -m bench.gpu_check --preset tiny --device cpu --out DIR --iters 2   # the plumbing

It writes DIR/gpu_check.json and DIR/gpu_check.md (a section for docs/benchmarks.md).
`bench/gpu.sh` stays for long sessions (compile, every variant).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import time
import traceback
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from bench.checks import TARGETS
from bench.report import machine, median, table
from bench.upscale import measure as measure_upscale
from common.protocol import IMAGE_SIZE, GenerationRequest
from testing.synthetic import build_pipeline, build_tiny_decoder
from worker.config import SpeedSettings
from worker.engine import Engine
from worker.fastpath import JpegEncoder, to_pixels
from worker.safety import started

if TYPE_CHECKING:
    from collections.abc import Callable

GIB = 2**30


class Check:
    """The shared state of one run: the device, the one pipeline build, the engine."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.dtype = torch.float16 if self.cuda else torch.float32
        self.pipe: Any = None
        self.engine: Engine | None = None
        self._count = 0

    def prompts(self, batch: int, *, cached: bool = False) -> list[GenerationRequest]:
        if cached:
            return [GenerationRequest(prompt=f"popular prompt {i}", seed=i) for i in range(batch)]
        self._count += batch
        return [
            GenerationRequest(prompt=f"a lighthouse at dusk, study {self._count + i}", seed=i)
            for i in range(batch)
        ]

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def timed(self, call: Callable[[], object], iters: int | None = None) -> list[float]:
        """Milliseconds per call, the device finished each time; two warm calls first."""
        for _ in range(2):
            call()
        self.sync()
        out = []
        for _ in range(iters or self.args.iters):
            started = time.perf_counter()
            call()
            self.sync()
            out.append((time.perf_counter() - started) * 1000)
        return out

    def build(self) -> Any:
        if self.pipe is None:
            self.pipe = build_pipeline(self.args.preset, dtype=self.dtype, device=self.device)
            self.pipe.set_progress_bar_config(disable=True)
            if self.cuda:
                # The engine's default for the published VAE (its config says force_upcast).
                torch.nn.Module.to(self.pipe.vae, dtype=torch.bfloat16)
        return self.pipe

    def engine_with(self, **speed: Any) -> tuple[Engine, list[dict[str, float]]]:
        """An engine on the one build (defaults unless told), warmed up; its buckets."""
        self.release()
        engine = Engine(self.build(), self.device, 95, SpeedSettings(**speed))
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        warm = [
            {"batch": w.batch, "seconds": round(w.seconds, 3), "peak_gib": w.peak_bytes / GIB}
            for w in engine.warm_up()
        ]
        self.engine = engine
        return engine, warm

    def release(self) -> None:
        self.engine = None
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()


def _rate(batch: int, ms: list[float]) -> float:
    return round(batch * 1000 / median(ms), 2)


def versions(check: Check) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "python": platform.python_version()}
    out["torch"] = torch.__version__
    out["cuda"] = torch.version.cuda
    if check.cuda:
        out["gpu"] = torch.cuda.get_device_name(check.device)
        out["gpu_memory_gib"] = torch.cuda.get_device_properties(check.device).total_memory / GIB
        try:
            smi = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            out["driver"] = subprocess.run(smi, capture_output=True, text=True).stdout.strip()
        except OSError:
            out["driver"] = "unknown"
    return out


def plain(check: Check) -> dict[str, Any]:
    pipe = check.build()

    def call() -> None:
        pipe(prompt=check.prompts(1)[0].prompt, num_inference_steps=1, guidance_scale=0.0)

    ms = check.timed(call)
    return {"batch_1_p50_ms": round(median(ms), 2)}


def engine(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    eng, warm = check.engine_with(max_batch=check.args.max_batch)
    out: dict[str, Any] = {
        "ready_s": round(time.perf_counter() - started, 2),
        "buckets": warm,
        "graphs": eng.graphs is not None,
        "max_batch": eng.max_batch,
    }
    new = check.timed(lambda: eng.generate(check.prompts(1)))
    out["batch_1_new_p50_ms"] = round(median(new), 2)
    cached = check.prompts(1, cached=True)
    out["batch_1_cached_p50_ms"] = round(median(check.timed(lambda: eng.generate(cached))), 2)
    for batch in (4, 16):
        if batch > eng.max_batch:
            continue
        ms = check.timed(partial(lambda n: eng.generate(check.prompts(n)), batch))
        out[f"batch_{batch}_p50_ms"] = round(median(ms), 2)
        out[f"batch_{batch}_img_s"] = _rate(batch, ms)
    return out


def stages(check: Check) -> dict[str, Any]:
    eng = check.engine or check.engine_with(max_batch=check.args.max_batch)[0]
    out: dict[str, Any] = {}
    prompt = [r.prompt for r in check.prompts(1)]

    def tokenise() -> None:
        check.pipe.tokenizer(prompt, padding="max_length", max_length=77, return_tensors="pt")
        check.pipe.tokenizer_2(prompt, padding="max_length", max_length=77, return_tensors="pt")

    out["tokenise_ms"] = round(median(check.timed(tokenise)), 3)
    with torch.inference_mode():
        fresh = iter(range(10**6))
        out["text_encoders_ms"] = round(
            median(check.timed(lambda: eng.text.encode([f"{prompt[0]} {next(fresh)}"]))), 3
        )
        requests = check.prompts(1)
        inputs, _ = eng._inputs(requests, None)
        _, fn = eng._function(requests[0], False)
        if eng.graphs is not None:
            graphs = eng.graphs
            out["graph_replay_ms"] = round(
                median(check.timed(lambda: graphs.run("text", inputs))), 3
            )
        decoded = fn(*inputs)
        out["eager_step_ms"] = round(median(check.timed(lambda: fn(*inputs))), 3)
        out["uint8_ms"] = round(median(check.timed(lambda: to_pixels(decoded))), 3)
        pixels = to_pixels(decoded)
        out["jpeg_ms"] = round(median(check.timed(lambda: eng.jpeg.encode(pixels))), 3)
        out["jpeg_on_gpu"] = eng.jpeg.on_gpu
        out["safety_ms"] = _safety_ms(check, pixels)
    return out


def _safety_ms(check: Check, pixels: torch.Tensor) -> float | str:
    """The classifier shaped like Falconsai/nsfw_image_detection (ViT-base), random weights."""
    import tempfile

    from testing.safety_models import save_classifier
    from worker.config import SafetySettings
    from worker.safety import load_checker

    shape = "base" if check.args.preset == "full" else "tiny"
    with tempfile.TemporaryDirectory() as tmp:
        path = save_classifier(Path(tmp) / shape, shape)  # type: ignore[arg-type]
        settings = SafetySettings(safety_model_id=str(path))
        checker = load_checker(settings, check.device, check.dtype)
    if checker is None:
        return "off"
    return round(median(check.timed(lambda: checker.check(pixels))), 3)


def eager(check: Check) -> dict[str, Any]:
    eng, _ = check.engine_with(max_batch=4, cuda_graphs=False)
    out: dict[str, Any] = {}
    for batch in (1, 4):
        ms = check.timed(partial(lambda n: eng.generate(check.prompts(n)), batch))
        out[f"batch_{batch}_p50_ms"] = round(median(ms), 2)
    return out


def vae(check: Check) -> dict[str, Any]:
    pipe = check.build()
    eng, _ = check.engine_with(max_batch=4, cuda_graphs=False)
    out: dict[str, Any] = {}
    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16}
    if not check.cuda:
        dtypes = {"float32": torch.float32}
    try:
        with torch.inference_mode():
            for name, dtype in dtypes.items():
                torch.nn.Module.to(pipe.vae, dtype=dtype)
                for batch in (1, 4):
                    latents = torch.randn(batch, 4, 64, 64, device=check.device)
                    ms = check.timed(partial(eng.step.decode, latents))
                    finite = bool(torch.isfinite(eng.step.decode(latents)).all())
                    out[f"{name}_batch_{batch}_ms"] = round(median(ms), 2)
                    out[f"{name}_finite"] = finite
    finally:
        torch.nn.Module.to(pipe.vae, dtype=torch.bfloat16 if check.cuda else torch.float32)
    return out


def layout(check: Check) -> dict[str, Any]:
    """Eager batch 4: the defaults, then channels_last, then also fused QKV (fusing is not
    undone, so it comes last)."""
    pipe = check.build()
    out: dict[str, Any] = {}
    for name, speed in (
        ("nchw_unfused", {}),
        ("channels_last", {"channels_last": True}),
        ("channels_last_fused", {"channels_last": True, "fuse_qkv": True}),
    ):
        eng, _ = check.engine_with(max_batch=4, cuda_graphs=False, **speed)
        ms = check.timed(partial(lambda e: e.generate(check.prompts(4)), eng))
        out[f"{name}_batch_4_p50_ms"] = round(median(ms), 2)
    pipe.unet.to(memory_format=torch.contiguous_format)
    pipe.vae.to(memory_format=torch.contiguous_format)
    return out


def image_to_image(check: Check) -> dict[str, Any]:
    eng, _ = check.engine_with(max_batch=4)
    photo = Image.effect_noise((IMAGE_SIZE, IMAGE_SIZE), 64).convert("RGB")
    out: dict[str, Any] = {"graphs": eng.graphs is not None}
    for batch in (1, 4):
        ms = check.timed(partial(lambda n: eng.image_to_image(check.prompts(n), photo), batch))
        out[f"batch_{batch}_p50_ms"] = round(median(ms), 2)
    return out


def profile(check: Check) -> dict[str, Any]:
    if not check.cuda:
        return {"note": "CUDA only"}
    eng = check.engine or check.engine_with(max_batch=4, cuda_graphs=False)[0]
    latents = torch.randn(1, 4, 64, 64, device=check.device)
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with torch.inference_mode():
        eng.step.decode(latents)
        check.sync()
        with torch.profiler.profile(activities=activities) as prof:
            eng.step.decode(latents)
            check.sync()
    events = sorted(prof.key_averages(), key=lambda e: e.device_time_total, reverse=True)
    return {
        "vae_decode_top_kernels": [
            {"kernel": e.key[:90], "ms": round(e.device_time_total / 1000, 3), "calls": e.count}
            for e in events[:10]
        ]
    }


def overlap(check: Check) -> dict[str, Any]:
    """Batches back to back with Pillow JPEGs: each encoded before the next is drawn, and
    encoded while the next is drawn (what the worker does when `Engine.overlaps`)."""
    eng = check.engine or check.engine_with(max_batch=check.args.max_batch)[0]
    pillow = JpegEncoder(95, False, check.device)
    batch, rounds = min(16, eng.max_batch), 6
    out: dict[str, Any] = {"batch": batch, "batches": rounds}

    def serial() -> None:
        for _ in range(rounds):
            started(eng.pixels(check.prompts(batch)), to_host=True).finish(pillow.encode)

    def overlapped() -> None:
        pending = started(eng.pixels(check.prompts(batch)), to_host=True)
        for index in range(rounds):
            following = None
            if index + 1 < rounds:
                following = started(eng.pixels(check.prompts(batch)), to_host=True)
            pending.finish(pillow.encode)
            if following is not None:
                pending = following

    for name, run in (("serial", serial), ("overlapped", overlapped)):
        # Each call is six batches: three of them are plenty, fewer when asked for fewer.
        ms = check.timed(run, iters=min(3, check.args.iters))
        out[f"{name}_img_s"] = _rate(batch * rounds, ms)
    out["overlapped_vs_serial"] = round(out["overlapped_img_s"] / out["serial_img_s"], 3)
    return out


def upscale(check: Check) -> dict[str, Any]:
    """The 2× path on the default engine (graphs on for the 512 picture, the 1024 step eager)."""
    eng = check.engine or check.engine_with(max_batch=check.args.max_batch)[0]
    if check.cuda:
        torch.cuda.reset_peak_memory_stats(check.device)
    eng.upscale([GenerationRequest(prompt="warm", seed=1, upscale=0.3)])  # cuDNN picks, once
    out = measure_upscale(eng, check.args.iters)
    if check.cuda:
        out["peak_gib"] = round(torch.cuda.max_memory_allocated(check.device) / GIB, 2)
    out["graphs"] = eng.graphs is not None
    return out


def tiny(check: Check) -> dict[str, Any]:
    check.release()
    decoder = build_tiny_decoder(check.args.preset, dtype=check.dtype, device=check.device)
    top = 32 if check.cuda else 4
    started = time.perf_counter()
    eng = Engine(check.build(), check.device, 95, SpeedSettings(max_batch=top), decoder)
    eng.warm_up()
    out: dict[str, Any] = {"ready_s": round(time.perf_counter() - started, 2)}
    alone = check.timed(lambda: eng.generate(check.prompts(1)))
    out["batch_1_p50_ms"] = round(median(alone), 2)
    ms = check.timed(lambda: eng.generate(check.prompts(top)))
    out[f"batch_{top}_img_s"] = _rate(top, ms)
    return out


def judged(results: dict[str, Any]) -> dict[str, Any]:
    """The targets against the figures above (only meaningful for the full build on CUDA)."""
    full_ms, full_rate = TARGETS["full VAE"]
    tiny_ms, tiny_rate = TARGETS["TINY_VAE"]
    eng, small, base = results.get("engine", {}), results.get("tiny", {}), results.get("plain", {})
    rates = [v for k, v in eng.items() if k.endswith("_img_s")]
    tiny_rates = [v for k, v in small.items() if k.endswith("_img_s")]
    out: dict[str, Any] = {}
    if "batch_1_new_p50_ms" in eng:
        out["full_batch_1_ms"] = [eng["batch_1_new_p50_ms"], f"<= {full_ms}"]
        if "batch_1_p50_ms" in base:
            out["vs_plain_batch_1"] = round(base["batch_1_p50_ms"] / eng["batch_1_new_p50_ms"], 2)
    if rates:
        out["full_img_s"] = [max(rates), f">= {full_rate}"]
    if "batch_1_p50_ms" in small:
        out["tiny_batch_1_ms"] = [small["batch_1_p50_ms"], f"<= {tiny_ms}"]
    if tiny_rates:
        out["tiny_img_s"] = [max(tiny_rates), f">= {tiny_rate}"]
    if "call" in (up := results.get("upscale", {})):
        out["upscale_engine_ms"] = [up["call"], "< 300"]
    if "ready_s" in eng:
        out["ready_s"] = [eng["ready_s"], "<= 20 (weights cached; here: built, not loaded)"]
    return out


SECTIONS: dict[str, Callable[[Check], dict[str, Any]]] = {
    "versions": versions,
    "plain": plain,
    "engine": engine,
    "stages": stages,
    "eager": eager,
    "vae": vae,
    "i2i": image_to_image,
    "overlap": overlap,
    "upscale": upscale,
    "profile": profile,
    "layout": layout,
    "tiny": tiny,
}


def markdown(results: dict[str, Any]) -> str:
    rows: list[list[object]] = []
    for section, figures in results.items():
        if not isinstance(figures, dict):
            continue
        for key, value in figures.items():
            if key in ("buckets", "vae_decode_top_kernels", "traceback"):
                value = json.dumps(value)[:300]
            rows.append([section, key, value])
    return "\n".join(
        [
            "## GPU check (`python -m bench.gpu_check`)",
            "",
            f"Machine: {results.get('versions', {}).get('machine', 'unknown')}",
            "",
            table(["section", "figure", "value"], rows),
            "",
        ]
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out / "gpu_check.json", args.out / "gpu_check.md"
    check = Check(args)
    results: dict[str, Any] = {}
    for name in args.sections or list(SECTIONS):
        started = time.perf_counter()
        try:
            results[name] = SECTIONS[name](check)
        except Exception as exc:  # one section's failure must not cost the others
            results[name] = {"error": repr(exc), "traceback": traceback.format_exc()[-2000:]}
            check.release()
        results[name]["section_s"] = round(time.perf_counter() - started, 2)
        results.pop("targets", None)
        results["targets"] = judged(results)
        json_path.write_text(json.dumps(results, indent=2, default=str))
        md_path.write_text(markdown(results))
        print(f"[gpu_check] {name}: {results[name]}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preset", choices=("tiny", "full"), default="full")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--iters", type=int, default=15)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--sections", nargs="*", choices=sorted(SECTIONS), default=None)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
