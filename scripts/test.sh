#!/usr/bin/env bash
# Installs dependencies, builds everything and runs every test suite with
# CTest, then the sanitizer build's suites (scripts/sanitize.sh; SANITIZE=0
# skips them) and every libFuzzer target for FUZZ_SECONDS each (default 30;
# 0 skips them). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${TEST_JOBS:-2}"
if [[ "${SANITIZE:-1}" != 0 ]]; then
  bash scripts/sanitize.sh
fi
if [[ "${FUZZ_SECONDS:-30}" != 0 ]]; then
  bash scripts/fuzz.sh all "${FUZZ_SECONDS:-30}"
fi
