#!/usr/bin/env bash
# Runs the serving benchmark (build/bench/serving_bench) against the
# pruneserve binary of the same build tree, after printing the machine's load
# so the figures can be read in context. Extra arguments go to the benchmark
# (--quick, --instances N, --threads N, --batch N, --vgg_width W, ...).
#
#   bench/run_serving_bench.sh [BUILD_DIR] [--quick] [benchmark flags...]
# BUILD_DIR defaults to $PRUNESERVE_BUILD_DIR, then <repo>/build.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRUNESERVE_BUILD_DIR:-$repo/build}"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$1"; shift; fi

for bin in bench/serving_bench server/pruneserve; do
  if [[ ! -x "$build/$bin" ]]; then
    echo "missing $build/$bin; build it with:" \
         "cmake --build $build --target serving_bench" >&2
    exit 1
  fi
done

echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$build/bench/serving_bench" --server "$build/server/pruneserve" "$@"
