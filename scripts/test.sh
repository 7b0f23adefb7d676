#!/usr/bin/env bash
# One command from a fresh clone to a test run: venv, CPU torch, the locked dev dependencies,
# the project, then pytest. Extra arguments go to pytest.
#   TORCH_INDEX_URL  where the CPU build of torch comes from (default: pip's configured index;
#                    elsewhere use https://download.pytorch.org/whl/cpu to avoid CUDA wheels)
#   VENV             virtual environment to use (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is needed: apt-get install -y redis-server" >&2
  exit 1
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool is needed (the alert rules' tests): apt-get install -y prometheus" >&2
  exit 1
fi

venv=${VENV:-.venv}
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

# torch first, pinned by requirements/torch.txt: the CPU build, which the hashed lock cannot
# cover (its file differs per index; see scripts/lock.sh). The lock leaves torch out.
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${pip[@]}" --no-deps -r requirements/torch.txt --index-url "$TORCH_INDEX_URL"
else
  "${pip[@]}" --no-deps -r requirements/torch.txt
fi
# Everything else at the exact, hashed pins the images use (requirements/dev.lock).
"${pip[@]}" --require-hashes -r requirements/dev.lock
"${pip[@]}" --no-deps -e .

export HF_HUB_OFFLINE=1
exec "$venv/bin/python" -m pytest "$@"
