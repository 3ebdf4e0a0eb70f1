#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer) in ./build-fuzz and runs one, or all, for a
# bounded time. Exits non-zero on any crash, leak, timeout or sanitizer
# report; the reproducer is left in build-fuzz/artifacts/.
#
#   bash scripts/fuzz.sh TARGET|all [SECONDS=60]
#
# FUZZ_SEED (default 1) fixes libFuzzer's mutation seed, so a CI run
# explores the same inputs each time and fails only on a change of the code;
# FUZZ_SEED=0 draws a new seed per run, for exploration.
#
# Targets: cifar_reader_fuzz idx_reader_fuzz image_folder_fuzz job_spec_fuzz
# kserve_request_fuzz model_name_fuzz xmodel_reader_fuzz. Each starts from
# its seed corpus (tests/fuzz/corpus/TARGET, copied, so new finds stay in
# build-fuzz/corpus/TARGET and accumulate across runs).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh TARGET|all [SECONDS]}"
seconds="${2:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi
all=(cifar_reader_fuzz idx_reader_fuzz image_folder_fuzz job_spec_fuzz
     kserve_request_fuzz model_name_fuzz xmodel_reader_fuzz)
if [[ "$target" == all ]]; then
  targets=("${all[@]}")
elif [[ " ${all[*]} " == *" $target "* ]]; then
  targets=("$target")
else
  echo "unknown fuzz target '$target'; one of: all ${all[*]}" >&2
  exit 2
fi

dir="${FUZZ_BUILD_DIR:-build-fuzz}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
mkdir -p "$dir"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DPRUNESERVE_BUILD_FUZZ=ON \
  -DPRUNESERVE_BUILD_TESTS=OFF -DPRUNESERVE_BUILD_BENCH=OFF \
  > "$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" --target "${targets[@]}"

# LibTorch's and protobuf's process-lifetime allocations are not leaks of
# the code under test; an input that leaks is still reported per input.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$dir/artifacts"
status=0
for t in "${targets[@]}"; do
  corpus="$dir/corpus/$t"
  mkdir -p "$corpus"
  if [[ -d "tests/fuzz/corpus/$t" ]]; then cp -n "tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true; fi
  echo "== $t for ${seconds}s"
  if "$dir/tests/fuzz/$t" "$corpus" -max_total_time="$seconds" -timeout=10 \
      -seed="${FUZZ_SEED:-1}" \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/$t-" > "$dir/$t.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$dir/$t.log" |
      sed "s/^/  /"
    echo "  corpus: $(ls "$corpus" | wc -l) inputs"
  else
    status=1
    echo "  FAILED; last lines of $dir/$t.log:"
    tail -n 40 "$dir/$t.log" | sed "s/^/  /"
  fi
done
exit "$status"
