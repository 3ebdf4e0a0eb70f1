#!/usr/bin/env bash
# Runs the C++ trainer benchmark and its PyTorch twin with the same thread
# count, steps and batch sizes, alternating them `repeats` times so both see
# the same machine load, and prints a table of median throughputs (wall-clock
# and per CPU-second) with the C++/Python ratios (> 1 means the C++ trainer is
# faster). On a busy machine trust the CPU-second ratio (with --threads=1).
#
#   bench/run_trainer_speed.sh [BUILD_DIR] [--threads=1] [--steps=60]
#                              [--warmup=8] [--batches=20,64] [--repeats=3]
# BUILD_DIR defaults to $PRUNESERVE_BUILD_DIR, then <repo>/build.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRUNESERVE_BUILD_DIR:-$repo/build}"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$1"; shift; fi

threads=1 steps=60 warmup=8 batches=20,64 repeats=3
for arg in "$@"; do
  case "$arg" in
    --threads=*) threads="${arg#*=}" ;;
    --steps=*) steps="${arg#*=}" ;;
    --warmup=*) warmup="${arg#*=}" ;;
    --batches=*) batches="${arg#*=}" ;;
    --repeats=*) repeats="${arg#*=}" ;;
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

# Same thread count everywhere, including the OpenMP/MKL pools.
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
flags=(--threads="$threads" --steps="$steps" --warmup="$warmup"
       --batches="$batches")

results=""
for ((r = 1; r <= repeats; r++)); do
  echo "== round $r/$repeats"
  cpp_out="$("$bin" "${flags[@]}")"
  py_out="$("$py" "$repo/bench/trainer_speed.py" "${flags[@]}")"
  echo "$cpp_out"
  echo "$py_out"
  results+="$cpp_out"$'\n'"$py_out"$'\n'
done
echo

# Median per (side, metric, batch) of the RESULT lines, joined on batch.
awk -v threads="$threads" -v repeats="$repeats" '
  function median(key,    i, j, n, t, a) {
    n = count[key]
    for (i = 1; i <= n; i++) a[i] = vals[key, i]
    for (i = 2; i <= n; i++) {
      t = a[i]
      for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
      a[j + 1] = t
    }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  /^RESULT / {
    split($3, b, "=")
    for (f = 5; f <= NF; f++) {
      split($f, v, "=")
      key = $2 SUBSEP v[1] SUBSEP b[2]
      vals[key, ++count[key]] = v[2]
    }
    if ($2 == "cpp" && !(b[2] in seen)) { seen[b[2]] = 1; order[++n] = b[2] }
  }
  END {
    printf "%6s %12s %12s %8s %14s %14s %8s\n", "batch", "C++ img/s",
           "Py img/s", "ratio", "C++ img/cpu-s", "Py img/cpu-s", "ratio"
    for (i = 1; i <= n; i++) {
      k = order[i]
      cw = median("cpp" SUBSEP "images_per_sec" SUBSEP k)
      pw = median("python" SUBSEP "images_per_sec" SUBSEP k)
      cc = median("cpp" SUBSEP "images_per_cpu_sec" SUBSEP k)
      pc = median("python" SUBSEP "images_per_cpu_sec" SUBSEP k)
      rw = (pw > 0) ? cw / pw : 0; rc = (pc > 0) ? cc / pc : 0
      printf "%6s %12.1f %12.1f %8.3f %14.1f %14.1f %8.3f\n", k, cw, pw, rw,
             cc, pc, rc
      sum_w += rw; sum_c += rc
    }
    printf "summary: threads=%s, median of %s rounds, C++/Python throughput " \
           "ratio %.3f wall-clock, %.3f per CPU-second (mean over %d batch sizes)\n",
           threads, repeats, sum_w / n, sum_c / n, n
  }' <<<"$results"
