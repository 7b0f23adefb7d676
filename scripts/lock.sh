#!/usr/bin/env bash
# Regenerates the pinned, hashed dependency locks in requirements/ from pyproject.toml.
# Pins already in a lock are kept; extra arguments go to `uv pip compile`, e.g.
#   bash scripts/lock.sh --upgrade                     # everything to the newest allowed
#   bash scripts/lock.sh --upgrade-package aiogram     # one package
# Needs uv (`pip install uv`) and PyPI. Locks are for Linux x86_64, CPython 3.11 (the images).
#
# torch is pinned by requirements/torch.txt. worker.lock holds the CUDA build from PyPI with
# its NVIDIA libraries, and torchvision built for it (the `gpu` extra: nvJPEG). The CPU image and the tests install torch on its own first (the CPU
# build comes from the PyTorch CPU index or a local wheel, whose files PyPI hashes do not
# cover), so worker-cpu.lock and dev.lock leave out torch and the CUDA-only packages.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-uv}
common=(pyproject.toml --generate-hashes --python-version 3.11
        --python-platform x86_64-manylinux_2_28 -c requirements/torch.txt
        --custom-compile-command "bash scripts/lock.sh" --quiet)

"$uv" pip compile "${common[@]}" --extra bot -o requirements/bot.lock "$@"
"$uv" pip compile "${common[@]}" --extra worker --extra gpu -o requirements/worker.lock "$@"

# Packages only the CUDA build of torch brings, read from the GPU lock.
cuda_only=$(grep -oE '^(nvidia-[a-z0-9-]+|triton|cuda-[a-z0-9-]+)==' requirements/worker.lock \
  | tr -d '=' | sort -u)
skip=(--no-emit-package torch)
for package in $cuda_only; do skip+=(--no-emit-package "$package"); done
"$uv" pip compile "${common[@]}" "${skip[@]}" --extra worker -o requirements/worker-cpu.lock "$@"
"$uv" pip compile "${common[@]}" "${skip[@]}" --extra dev -o requirements/dev.lock "$@"
