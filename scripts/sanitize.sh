#!/usr/bin/env bash
# Builds the inference, repository, storage, auth, util, metrics, server and jobs
# test suites with clang's AddressSanitizer and UndefinedBehaviorSanitizer
# in ./build-asan and runs them. Exits non-zero on any failure or sanitizer
# report.
#
#   bash scripts/sanitize.sh
#
# Only these suites and the libraries they link are built (each core/ folder
# is its own library), not the benches, fuzzers or e2e suites.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${ASAN_BUILD_DIR:-build-asan}"
suites=(inference_test repository_test storage_test auth_test util_test
        metrics_test server_test server_runtime_test jobs_test)
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
# vptr checks need the RTTI of every class they meet, libtorch's included.
flags+=" -fno-sanitize=vptr -fno-omit-frame-pointer"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
mkdir -p "$dir"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DPRUNESERVE_BUILD_BENCH=OFF \
  > "$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" -j "${BUILD_JOBS:-2}" --target "${suites[@]}"
# LibTorch's process-lifetime allocations are not leaks of ours.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# One test measures the process's resident memory across 100 loads and
# unloads; ASan's quarantine holds freed memory back on purpose, so RSS grows
# there. LeakSanitizer at exit checks the same load/unload path for leaks.
export GTEST_FILTER="${GTEST_FILTER:--InferenceServiceTest.RepeatedLoadUnloadDoesNotGrowMemory}"
regex="^($(IFS='|'; echo "${suites[*]}"))\$"
ctest --test-dir "$dir" --output-on-failure -R "$regex" -j "${TEST_JOBS:-2}"
