#!/usr/bin/env bash
# One command from a fresh clone to a test run: venv, CPU torch, the project with its dev
# extra, then pytest. Extra arguments go to pytest.
#   TORCH_INDEX_URL  where the CPU build of torch comes from (default: pip's configured index;
#                    elsewhere use https://download.pytorch.org/whl/cpu to avoid CUDA wheels)
#   VENV             virtual environment to use (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is needed: apt-get install -y redis-server" >&2
  exit 1
fi

venv=${VENV:-.venv}
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

# The CPU build first: an unpinned torch pulled in by diffusers would fetch GBs of CUDA.
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${pip[@]}" torch==2.13.0 --index-url "$TORCH_INDEX_URL"
else
  "${pip[@]}" torch==2.13.0
fi
"${pip[@]}" -e '.[dev]'

export HF_HUB_OFFLINE=1
exec "$venv/bin/python" -m pytest "$@"
