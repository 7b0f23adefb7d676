#!/usr/bin/env bash
# The compose stack in real containers, from build to teardown:
#   1. build the images (CPU override), write a tiny random-weight SDXL pipeline and safety
#      classifier with save_pretrained (inside the worker image) and mount them read-only;
#   2. bring up Redis (with a password full of `/#?+=`), the bot, the worker and the test Bot API
#      server (testing/botapi) in a container; wait for every healthcheck;
#   3. /imagine from a user: a 512x512 photo comes back as a reply to it, and both processes'
#      metrics, on the host's loopback, count it;
#   4. with the worker frozen, a second /imagine (in Russian) is queued, Redis is killed (SIGKILL) and
#      started again, the worker thaws: the queued job survives and its photo comes back,
#      drawn from the tiny translator's English, which the caption shows;
#   5. tear the stack down (containers, volumes, the models); the images stay as build cache.
# Plain `docker` / `docker compose` (v2.24.4+, for `!reset`) and python3 on the host.
#   SMOKE_BUILD_NETWORK  network for the builds' RUN steps (`host` where only the host's own
#                        network reaches the package registries); default: Docker's
#   TORCH_INDEX_URL      where the worker image's CPU torch comes from (default: PyTorch's)
#   SMOKE_CONTROL_PORT   host port of the test Bot API's control API (18082)
#   SMOKE_KEEP=1         leave the stack running for a look (then `docker compose -p
#                        imagine-smoke down -v`)
set -euo pipefail
cd "$(dirname "$0")/.."

export SMOKE_PROJECT=imagine-smoke
export SMOKE_CONTROL_PORT=${SMOKE_CONTROL_PORT:-18082}
# Characters that broke a password inside a URL; `$` is left out only because compose files
# interpolate it.
export REDIS_PASSWORD='sm0ke/pa#ss?w+rd=='
export BOT_METRICS_HOST_PORT=${BOT_METRICS_HOST_PORT:-19810}
export WORKER_METRICS_HOST_PORT=${WORKER_METRICS_HOST_PORT:-19811}
CONTROL="http://127.0.0.1:${SMOKE_CONTROL_PORT}"
CHAT=5001

work=$(mktemp -d "${TMPDIR:-/tmp}/imagine-smoke.XXXXXX")
export SMOKE_MODELS="$work/models"
mkdir -p "$SMOKE_MODELS"
files=(-f docker-compose.yml -f docker-compose.cpu.yml -f testing/docker-compose.smoke.yml)
if [ -n "${SMOKE_BUILD_NETWORK:-}" ]; then
  cat > "$work/build.yml" <<EOF
services:
  bot:
    build:
      network: ${SMOKE_BUILD_NETWORK}
  worker:
    build:
      network: ${SMOKE_BUILD_NETWORK}
EOF
  files+=(-f "$work/build.yml")
fi
compose() { docker compose --project-directory . -p "$SMOKE_PROJECT" "${files[@]}" "$@"; }
step() { printf '[smoke %s] %s\n' "$(date +%T)" "$*"; }
driver() { python3 -m testing.compose_smoke --control "$CONTROL" "$@"; }

teardown() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    step "FAILED (exit $rc); the stack as it was:"
    compose ps -a || true
    driver sent --chat "$CHAT" || true
    compose logs --no-color --tail 80 || true
  fi
  if [ "${SMOKE_KEEP:-}" = 1 ]; then
    step "left running (SMOKE_KEEP=1)"
  else
    compose unpause worker >/dev/null 2>&1 || true
    compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
  fi
  # The models were written by the container's root: removed by it too.
  docker run --rm --network none --user 0 -v "$work:/work" "${SMOKE_PROJECT}-worker" \
    rm -rf /work/models >/dev/null 2>&1 || true
  rm -rf "$work" 2>/dev/null || true
  exit "$rc"
}
trap teardown EXIT

started=$(date +%s)
step "building the images"
compose build --quiet

step "writing the tiny models (save_pretrained, then readable to the worker's user)"
docker run --rm --network none --user 0 \
  -v "$PWD/testing:/app/testing:ro" -v "$SMOKE_MODELS:/models" -e HF_HUB_OFFLINE=1 \
  "${SMOKE_PROJECT}-worker" sh -c '
    python -m testing.synthetic --preset tiny --out /models/sdxl >/dev/null &&
    python -m testing.safety_models /models/safety --verdict normal >/dev/null &&
    python -m testing.translate_models /models/translate --word lighthouse >/dev/null 2>&1 &&
    chmod -R a+rX /models'

step "starting the stack and waiting for every healthcheck"
compose up -d --wait --wait-timeout 300
compose ps --format '{{.Service}}: {{.Status}}'

step "the container users: redis-server and the processes run unprivileged"
for service in redis bot worker; do
  uid=$(compose exec -T "$service" cat /proc/1/status | awk '/^Uid:/ {print $2}')
  echo "$service: pid 1 runs as uid $uid"
  [ "$uid" != 0 ] || { echo "FAIL: $service runs as root"; exit 1; }
done

step "/imagine: a 512x512 photo replies to the prompt"
first=$(driver push --chat "$CHAT" "/imagine a red fox in the snow")
driver photo --chat "$CHAT" --reply-to "$first" --timeout 180

step "metrics on the host's loopback: the picture counted by both processes"
metric() {
  python3 - "$1" "$2" <<'PY'
import sys, urllib.request
url, name = sys.argv[1], sys.argv[2]
lines = urllib.request.urlopen(url, timeout=10).read().decode().splitlines()
values = [float(line.split()[-1]) for line in lines if line.startswith(name + " ")]
print(values[0] if values else 0)
PY
}
sent=$(metric "http://127.0.0.1:${BOT_METRICS_HOST_PORT}/metrics" imagine_bot_pictures_sent_total)
made=$(metric "http://127.0.0.1:${WORKER_METRICS_HOST_PORT}/metrics" imagine_worker_images_total)
echo "bot: pictures sent $sent; worker: images made $made"
[ "${sent%.*}" -ge 1 ] && [ "${made%.*}" -ge 1 ] || { echo "FAIL: the picture was not counted"; exit 1; }

step "a queued job survives a Redis restart"
rcli() { compose exec -T redis sh -c 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning "$@"' rcli "$@"; }
# The worker frozen, and its blocking read of the queue (BLMOVE) cut: the next job waits in
# the queue itself, not handed to a worker that cannot take it.
compose pause worker
for client in $(rcli client list | awk '/ cmd=blmove / {sub("id=", "", $1); print $1}'); do
  rcli client kill id "$client" >/dev/null
done
second=$(driver push --chat "$CHAT" "/imagine маяк ночью")
queued=0
for _ in $(seq 1 120); do
  queued=$(rcli llen rq:queue:imagine)
  [ "$queued" -ge 1 ] && break
  sleep 0.5
done
[ "$queued" -ge 1 ] || { echo "FAIL: the prompt was never queued"; exit 1; }
echo "jobs in the queue before the restart: $queued"
# Killed, not stopped: a stopped Redis writes a snapshot on the way out, a killed one keeps
# only what its append-only file has, which `appendfsync everysec` flushes within a second.
sleep 2
compose kill -s SIGKILL redis
compose up -d --wait --wait-timeout 120 redis
queued=$(rcli llen rq:queue:imagine)
echo "jobs in the queue after the restart: $queued"
[ "$queued" -ge 1 ] || { echo "FAIL: the queued job did not survive the restart"; exit 1; }
compose unpause worker
# Russian: drawn from the translator's English, which the caption shows after the prompt.
driver photo --chat "$CHAT" --reply-to "$second" --timeout 180 \
  --caption-has "<i>маяк ночью</i>"$'\n'"→ lighthouse"

step "passed in $(( $(date +%s) - started )) s"
