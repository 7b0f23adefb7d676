"""Translation benchmark: what translating Russian prompts adds to a micro-batch.

The full-size opus-mt-ru-en architecture (MarianMT, 6+6 layers, d_model 512, 62,518 tokens)
with random weights (`testing.translate_models`), through the worker's `Translator`: one greedy
`generate` call per micro-batch of 1, 8 and 16 new prompts, each yielding `--tokens` tokens
(random weights never stop by themselves; a real short prompt translates to about that many).
Cached repeats cost a dictionary lookup and are measured too.

    python -m bench.translate                      # CPU
    python -m bench.translate --device cuda        # a GPU (float16)
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import torch

from bench.report import append, median, percentile, table
from testing.translate_models import save_translator
from worker.config import TranslateSettings
from worker.translate import load_translator

_counter = itertools.count()
_WORDS = ["рыжая лиса", "маяк на скале", "зимний лес", "кот в шляпе", "портрет девушки"]


def _tag(n: int) -> str:
    """A Cyrillic word of its own for each number (digits are kept as typed, not translated)."""
    return "".join("абвгдежзик"[int(d)] for d in str(n))


def _prompts(batch: int) -> list[str]:
    """New prompts every call (no cache hits), two Cyrillic runs each, like a real one."""
    return [
        f"{_WORDS[n % len(_WORDS)]} {_tag(n)}, {_WORDS[(n + 1) % len(_WORDS)]} {_tag(n)} на закате"
        for n in (next(_counter) for _ in range(batch))
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--preset", choices=("tiny", "full"), default="full")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    with tempfile.TemporaryDirectory() as tmp:
        path = save_translator(Path(tmp) / "marian", args.preset, word="fox")
        translator = load_translator(
            TranslateSettings(translate_model_id=str(path)), device, dtype
        )
    assert translator is not None
    translator.max_new_tokens = args.tokens
    translator.warm_up()
    rows: list[list[object]] = []
    for batch in args.batches:
        fresh, cached = [], []
        for _ in range(args.iters):
            prompts = _prompts(batch)
            started = time.perf_counter()
            translator.translate(prompts)
            fresh.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            translator.translate(prompts)
            cached.append((time.perf_counter() - started) * 1000)
        rows.append(
            [
                batch,
                2 * batch,
                f"{median(fresh):.1f}",
                f"{percentile(fresh, 90):.1f}",
                f"{median(fresh) / batch:.1f}",
                f"{median(cached):.3f}",
            ]
        )
    header = [
        "prompts",
        "Cyrillic runs",
        "new: ms per batch (p50)",
        "p90",
        "ms per prompt",
        "cached: ms per batch",
    ]
    body = table(header, rows) + (
        f"\n\n{args.preset} opus-mt-ru-en architecture, random weights, {dtype} on {device}; "
        f"one greedy generate call per batch, {args.tokens} new tokens per run; "
        f"{args.iters} batches per size."
    )
    if args.no_append:
        print(body)
    else:
        append(f"Translation (opus-mt-ru-en shape) on {device}", "bench.translate", body)


if __name__ == "__main__":
    main()
