#!/usr/bin/env bash
# Configures and builds PruneServe into ./build (Release-like, ccache when
# present). Extra arguments go to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
# ccache keys include the compiler's arguments; with the source root as base
# directory, absolute paths become relative and any clone of the repository
# shares the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja "$@" > "$BUILD_DIR/configure.log" 2>&1 || {
  cat "$BUILD_DIR/configure.log"; exit 1; }
# BUILD_TARGETS (space-separated) limits the build, e.g. "pruneserve prunectl".
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
