#!/usr/bin/env bash
# Soak of the real server: starts pruneserve on a free loopback port with a
# private data directory, builds three small zoo models with prunectl and
# runs bench/soak_bench.cc against it (64 inference clients for 60 s with
# uploads, a pruning job, 50 WatchJob streams, a load/unload every second
# and 5 % malformed requests, after an idle-load baseline). Exits non-zero
# when soak_bench reports a failed check or the server is not alive at the
# end.
#
#   bash bench/run_soak.sh [BUILD_DIR] [--seconds 60] [--clients 64]
#                          [other soak_bench flags...]
#
# The binaries are copied to the work directory first, so a rebuild during
# the run does not change what is measured.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/bench/server_lib.sh"
build="${PRUNESERVE_BUILD_DIR:-$repo/build}"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$1"; shift; fi
require_fashion_mnist "soak bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
copy_binaries "$build" "$work" server/pruneserve client/prunectl bench/soak_bench

make_zoo_models "$work"

start_server "$work/pruneserve" "$work/server.log" --data_dir="$work/data"

echo "command: bench/run_soak.sh $*"
status=0
"$work/soak_bench" --server "127.0.0.1:$port" --server_pid "$pid" \
  --serve_model "$work/m1.pt" --swap_model "$work/m2.pt" \
  --job_model "$work/m3.pt" --upload "$work/m1.pt,$work/m2.pt,$work/m3.pt" \
  --dataset "$dataset" "$@" || status=$?
if ! kill -0 "$pid" 2>/dev/null; then
  echo "FAIL: server died; its log:"
  tail -n 20 "$work/server.log"
  status=1
fi
if grep -q "Threadpool Exhausted\|terminate called\|Segmentation" "$work/server.log"; then
  echo "FAIL: the server log reports:"
  grep -m 5 "Threadpool Exhausted\|terminate called\|Segmentation" "$work/server.log"
  status=1
fi
exit "$status"
