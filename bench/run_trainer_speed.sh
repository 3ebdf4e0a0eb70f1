#!/usr/bin/env bash
# Runs the C++ trainer benchmark and its PyTorch twin with the same thread
# count, steps and batch sizes, and prints both side by side with the
# C++/Python throughput ratio (> 1 means the C++ trainer is faster).
#
#   bench/run_trainer_speed.sh [BUILD_DIR] [--threads=1] [--steps=60]
#                              [--warmup=5] [--batches=20,64]
# BUILD_DIR defaults to $PRUNESERVE_BUILD_DIR, then <repo>/build.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRUNESERVE_BUILD_DIR:-$repo/build}"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$1"; shift; fi

threads=1 steps=60 warmup=5 batches=20,64
for arg in "$@"; do
  case "$arg" in
    --threads=*) threads="${arg#*=}" ;;
    --steps=*) steps="${arg#*=}" ;;
    --warmup=*) warmup="${arg#*=}" ;;
    --batches=*) batches="${arg#*=}" ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

bin="$build/bench/trainer_speed_bench"
if [[ ! -x "$bin" ]]; then
  echo "missing $bin; build it with: ninja -C $build trainer_speed_bench" >&2
  exit 1
fi
# Debian's interpreter carries python3-torch; a pyenv python3 may not.
py=/usr/bin/python3

# Pin both to the same thread count, including OpenMP/MKL pools.
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
flags=(--threads="$threads" --steps="$steps" --warmup="$warmup"
       --batches="$batches")

cpp_out="$("$bin" "${flags[@]}")"
py_out="$("$py" "$repo/bench/trainer_speed.py" "${flags[@]}")"
echo "$cpp_out"
echo
echo "$py_out"
echo

# Join the RESULT lines on batch size.
awk -v threads="$threads" '
  /^RESULT cpp/    { split($3, b, "="); split($5, v, "="); cpp[b[2]] = v[2]; order[++n] = b[2] }
  /^RESULT python/ { split($3, b, "="); split($5, v, "="); py[b[2]] = v[2] }
  END {
    printf "%8s %16s %16s %10s\n", "batch", "C++ images/s", "Python images/s", "C++/Py"
    for (i = 1; i <= n; i++) {
      k = order[i]
      r = (py[k] > 0) ? cpp[k] / py[k] : 0
      printf "%8s %16.1f %16.1f %10.3f\n", k, cpp[k], py[k], r
      sum += r
    }
    printf "summary: threads=%s, mean C++/Python throughput ratio %.3f over %d batch sizes\n", threads, sum / n, n
  }' <<<"$cpp_out"$'\n'"$py_out"
