#!/usr/bin/env bash
# Mutation check of the modules where a silent break hurts most: each is changed one small
# way at a time (mutmut 2, in place) and the fast tests that cover it must fail. Prints the
# mutants that survived. Not part of CI (tens of minutes); see docs/testing.md.
#   scripts/mutation.sh [GROUP...]   groups: safety fairuse admission running delivery
#                                    validation (default: all)
#   VENV  virtual environment to use (default .venv, as scripts/test.sh builds it)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
export VENV=$venv HF_HUB_OFFLINE=1

# mutmut's runner for one mutant. mutmut counts only exit code 1 as killed: a mutant that
# breaks an import (pytest exits 2) or any other failure is folded into 1.
if [ "${1:-}" = --pytest ]; then
  shift
  "$venv/bin/python" -m pytest -x -q -p no:cacheprovider "$@" >/dev/null 2>&1 || exit 1
  exit 0
fi

declare -A modules=(
  [safety]="bot/delivery/screening.py worker/safety.py"
  [fairuse]="bot/requests/fairuse.py bot/requests/windows.py"
  [admission]="bot/requests/admission.py"
  [running]="bot/shared/running.py"
  [delivery]="bot/delivery/results.py"
  [validation]="common/trusted.py common/protocol.py"
)
# The tests that cover each module and run in seconds; e2e tests only where nothing faster
# reaches a line. Which lines are mutated at all: scripts/mutmut_config.py.
declare -A tests=(
  [bot/delivery/screening.py]="tests/test_chat_settings.py"
  [worker/safety.py]="tests/test_safety_worker.py
    tests/test_batching.py::test_each_picture_of_a_micro_batch_gets_its_own_safety_verdict"
  [bot/requests/fairuse.py]="tests/test_fair_use.py
    tests/test_group_aside.py::test_a_refusal_about_the_whole_group_is_told_once_openly
    tests/test_group_aside.py::test_each_member_hears_their_own_refusal_and_a_busy_group_hears_one
    tests/test_daily_caps.py"
  [bot/requests/windows.py]="tests/test_fair_use.py"
  [bot/requests/admission.py]="tests/test_group_aside.py tests/test_bad_input.py
    tests/test_daily_caps.py
    tests/test_redis_bounds.py::test_results_waiting_for_telegram_past_the_bound_make_new_requests_wait
    tests/test_styles.py --deselect tests/test_styles.py::test_a_bot_with_a_bad_styles_file_stops_with_one_line"
  # Nothing of Redis or the bot: no conftest, under a second per mutant.
  [bot/shared/running.py]="--noconftest tests/test_running.py"
  [bot/delivery/results.py]="tests/test_faults_bot.py::test_one_job_gets_one_answer_whatever_reaches_the_stream
    tests/test_faults_bot.py::test_redis_failing_at_the_acknowledgement_sends_nothing_twice_and_frees_the_slot"
  [common/trusted.py]="tests/test_foreign_jobs.py::test_only_the_projects_own_jobs_pass"
  [common/protocol.py]="tests/test_job_queue.py::test_a_request_the_worker_cannot_draw_is_refused_when_it_is_made
    tests/test_job_queue.py::test_requests_at_the_edges_are_drawn_at_the_size_they_say"
)
order=(safety fairuse admission running delivery validation)
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=("${order[@]}")
for group in "${groups[@]}"; do
  [ -n "${modules[$group]:-}" ] || { echo "unknown group $group (${order[*]})" >&2; exit 2; }
done

if [ ! -x "$venv/bin/mutmut" ]; then
  # Pinned, and outside requirements/dev.lock: the check is run by hand, never by CI.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "mutmut==2.5.1"
fi

# mutmut keeps the original beside a mutated file as FILE.bak until the mutant's tests end.
# One left behind means a run was killed mid-mutant: put it back before anything else.
restore() {
  local file
  for file in ${modules[*]}; do
    if [ -f "$file.bak" ]; then
      mv "$file.bak" "$file"
      echo "restored $file" >&2
    fi
  done
}
restore
runner=
stop() {
  # mutmut runs in a session of its own (setsid): its worker process and the tests stop
  # with it, then the originals come back.
  [ -z "$runner" ] || kill -TERM -- "-$runner" 2>/dev/null || true
  [ -z "$runner" ] || wait "$runner" 2>/dev/null || true
  restore
  exit 130
}
trap stop INT TERM
trap restore EXIT

# A fresh run: a mutant's status depends on the tests, which change.
rm -f .mutmut-cache
selected=$(for group in "${groups[@]}"; do echo "${modules[$group]}"; done)
# shellcheck disable=SC2086
before=$(sha1sum $selected)
started=$SECONDS
for group in "${groups[@]}"; do
  for module in ${modules[$group]}; do
    echo "== $group: $module" >&2
    rc=0
    # shellcheck disable=SC2086 # the test list is split into arguments on purpose
    PYTHONPATH=scripts setsid "$venv/bin/mutmut" run --paths-to-mutate "$module" \
      --tests-dir tests --runner "bash scripts/mutation.sh --pytest $(echo ${tests[$module]})" \
      --simple-output &
    runner=$!
    wait "$runner" || rc=$?
    runner=
    # Bit 1 of mutmut's exit code is a fatal error (e.g. the tests fail unmutated); the
    # others only say that some mutants survived or timed out, which the summary shows.
    if [ $((rc & 1)) -ne 0 ]; then
      echo "mutmut failed on $module" >&2
      exit 1
    fi
  done
done
echo "== $((SECONDS - started)) s" >&2

"$venv/bin/mutmut" results
for id in $("$venv/bin/mutmut" result-ids survived); do
  echo "# mutant $id"
  "$venv/bin/mutmut" show "$id"
done
# Every mutated file is back byte for byte (local edits included).
restore
# shellcheck disable=SC2086
[ "$(sha1sum $selected)" = "$before" ] || { echo "a mutated source was not restored" >&2; exit 1; }
