#!/usr/bin/env bash
# The GPU rows of docs/benchmarks.md: the full SDXL Turbo architecture, random weights, float16.
# Eager variants take about two minutes on an H200 (BENCH_EAGER=0 skips them); compiled ones
# spend minutes compiling before they are timed (BENCH_COMPILE=0 skips them). Each variant is
# its own run, so each appends its own section even if a later one is cut short.
set -uo pipefail
cd "$(dirname "$0")/.."
model() {
    python3 -m bench.model --preset full --device cuda --dtype float16 --iters 20 "$@"
}
if [[ "${BENCH_EAGER:-1}" == 1 ]]; then
    model --variants fp32dec fp16vae tinyvae fp16vae+gpujpeg tinyvae+gpujpeg \
        fp16vae+nofuse+nochl tinyvae+gpujpeg+hot
fi
if [[ "${BENCH_COMPILE:-1}" == 1 ]]; then
    model --variants tinyvae+gpujpeg+compile:reduce-overhead
    model --variants fp16vae+gpujpeg+compile:reduce-overhead
    model --variants tinyvae+gpujpeg+hot+compile:reduce-overhead
fi
