#!/usr/bin/env bash
# The GPU rows of docs/benchmarks.md, in one go: the full SDXL Turbo architecture (random
# weights), float16 UNet, prompt in -> JPEG bytes out, the plain diffusers call alternating
# with the engine. Each variant is its own run and appends its own section, so one that fails
# (or runs out of time) leaves the others' figures. BENCH_COMPILE=0 skips the compiled runs,
# which spend minutes compiling first.
#
# What it answers: the targets (batch-1 p50 <= 30 ms and >= 50 images/s with the full VAE;
# <= 15 ms and >= 170 images/s with TINY_VAE), start-up time and peak memory per batch size
# (which MAX_BATCH fits a 12 GB card), the VAE in bfloat16 (default) against float32 and
# float16 (VAE_ID), what the CUDA graphs buy over eager for text- and image-to-image, and
# whether the engine's picture matches the plain pipeline's for the same prompt and seed.
set -uo pipefail
cd "$(dirname "$0")/.."
model() {
    python3 -m bench.model --preset full --device cuda --dtype float16 --iters 20 "$@"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# The defaults, then the other VAE precisions, then the tiny decoder; batch 16 for memory.
for variant in bf16dec fp32dec fp16vae tinyvae+gpujpeg; do
    model --batches 1 2 4 8 16 --variants "$variant"
done
# Repeated prompts (the text cache skips both text encoders): the hot path's latency.
model --batches 1 8 --variants bf16dec+hot+gpujpeg tinyvae+gpujpeg+hot
# The same step eagerly, and image-to-image with and without graphs.
model --batches 1 8 --variants bf16dec+nographs tinyvae+gpujpeg+nographs
model --batches 1 8 --variants bf16dec+i2i bf16dec+i2i+nographs
if [[ "${BENCH_COMPILE:-1}" == 1 ]]; then
    # COMPILE stays only if compiled kernels inside the graphs beat the graphs alone.
    model --batches 1 8 --variants tinyvae+gpujpeg+hot+compile:max-autotune-no-cudagraphs
    model --batches 1 8 --variants bf16dec+compile:max-autotune-no-cudagraphs
fi
