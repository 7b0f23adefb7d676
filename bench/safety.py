"""The image safety check's cost per image: the worker's classifier on a decoded batch.

Times `SafetyChecker.check` exactly as the worker calls it: uint8 512×512 pictures already on
the device, resized and normalised there, one classifier call per batch, verdicts back on the
host. `tiny` is the tests' classifier; `base` has ViT-base's shape (86 M parameters, 224×224
input) with random weights, the shape of Falconsai/nsfw_image_detection, so its timings stand
for the real model's. On CUDA the classifier runs in float16, as in the worker.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from bench.report import append, median, percentile, table
from common.protocol import IMAGE_SIZE
from testing.safety_models import save_classifier
from worker.config import SafetySettings
from worker.devices import resolve_device
from worker.safety import SafetyChecker, load_checker


def _timings(checker: SafetyChecker, batch: int, iters: int, warm: int) -> list[float]:
    """Milliseconds per call, including the copy of the verdicts to the host."""
    generator = torch.Generator().manual_seed(batch)
    pixels = torch.randint(0, 256, (batch, 3, IMAGE_SIZE, IMAGE_SIZE), generator=generator)
    pixels = pixels.to(torch.uint8).to(checker.device)
    for _ in range(warm):
        checker.check(pixels)
    out = []
    for _ in range(iters):
        started = time.perf_counter()
        checker.check(pixels)  # returns Python floats: the device has finished
        out.append((time.perf_counter() - started) * 1000)
    return out


def _rows(shape: str, args: argparse.Namespace, workdir: Path) -> list[list[object]]:
    device = resolve_device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    path = save_classifier(workdir / shape, shape)  # type: ignore[arg-type]
    checker = load_checker(SafetySettings(safety_model_id=str(path)), device, dtype)
    assert checker is not None
    count = sum(p.numel() for p in checker.model.parameters())
    params = f"{count / 1e6:.1f} M" if count >= 10**5 else f"{count / 1e3:.1f} K"
    rows: list[list[object]] = []
    for batch in args.batches:
        ms = _timings(checker, batch, args.iters, args.warm)
        rows.append(
            [
                shape,
                params,
                str(device),
                batch,
                f"{median(ms):.2f}",
                f"{median(ms) / batch:.2f}",
                f"{percentile(ms, 90) / batch:.2f}",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shapes", nargs="+", default=["tiny", "base"], choices=["tiny", "base"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's own)")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    header = ["model", "params", "device", "batch", "ms/call", "ms/image", "p90 ms/image"]
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            rows += _rows(shape, args, Path(tmp))
    body = table(header, rows) + (
        f"\n\n{args.iters} timed calls per row after {args.warm} warm-up calls, "
        f"{torch.get_num_threads()} CPU thread(s); medians. Input: "
        f"uint8 {IMAGE_SIZE}×{IMAGE_SIZE} pictures on the device, as the worker decodes them; "
        "each call resizes and normalises them there and runs the classifier once per batch."
    )
    if args.no_append:
        print(body)
    else:
        append("Safety check: classifier cost per image", "bench.safety", body)


if __name__ == "__main__":
    main()
