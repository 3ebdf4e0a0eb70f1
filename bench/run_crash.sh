#!/usr/bin/env bash
# Crash behaviour of the real server: bench/crash_bench.cc SIGKILLs it at 30
# random moments during uploads, job phases (prune, fine-tuning steps and
# checkpoints, evaluate, register) and restarts it on the same data
# directory each time; after the last restart it checks that every
# acknowledged upload is listed and intact, every job ended exactly once
# (finished, resumed, or FAILED after --job_max_attempts with the reason), no
# result version is duplicated and no orphan file is left after a second
# start. Exits non-zero when a check fails.
#
#   bash bench/run_crash.sh [BUILD_DIR] [--kills 30] [--seed 1]
#                           [--job_max_attempts 3] [other crash_bench flags]
#
# The binaries are copied to the work directory first, so a rebuild during
# the run does not change what is measured.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/bench/server_lib.sh"
build="${PRUNESERVE_BUILD_DIR:-$repo/build}"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$1"; shift; fi
require_fashion_mnist "crash bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/crash.XXXXXX")"
cleanup() {
  if [[ "${status:-1}" != 0 ]]; then
    echo "server log (tail):"
    tail -n 20 "$work/data.server.log" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
copy_binaries "$build" "$work" server/pruneserve client/prunectl bench/crash_bench

make_zoo_models "$work"

echo "command: bench/run_crash.sh $*"
status=0
"$work/crash_bench" --server "$work/pruneserve" --data_dir "$work/data" \
  --upload "$work/m1.pt,$work/m2.pt" --job_model "$work/m3.pt" \
  --dataset "$dataset" "$@" || status=$?
exit "$status"
