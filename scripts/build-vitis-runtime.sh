#!/usr/bin/env bash
# Builds and installs the open-source part of the Vitis AI runtime (unilog,
# XIR, target-factory and the VART runner, util, mem-manager, trace,
# async-runner and dummy-runner components) from a Vitis AI source tree, so
# that PruneServe can be configured with -DPRUNESERVE_WITH_VART=ON on a
# machine without a board image. On an FPGA host the runtime comes with the
# board image and this script is not needed.
#
#   scripts/build-vitis-runtime.sh SRC_DIR PREFIX
#
# SRC_DIR is either a checkout of the public Xilinx/Vitis-AI repository (the
# v3.5 tag is the tested one) or its src/vai_runtime folder. PREFIX is the
# install prefix; configure PruneServe with CMAKE_PREFIX_PATH=PREFIX and run
# it with LD_LIBRARY_PATH=PREFIX/lib (unless PREFIX is a system prefix).
#
# The Debian packages it needs are installed by `bash scripts/setup.sh --vart`.
# libxrt-dev is deliberately not among them: Debian's XRT lacks
# xclIPSetReadRange, so the DPU runner (which needs XRT and a DPU anyway) is
# not built.
#
# Two workarounds are applied without touching the source files:
#  - xir, target-factory and vart run `git rev-parse HEAD` at configure time,
#    so a source tree that is not in a git repository is made one (git init
#    and one commit of the tree as it is);
#  - the projects compile with -Werror, and GCC 12 warns in Boost's graphviz
#    header; a CMAKE_PROJECT_INCLUDE file adds -Wno-error after it.
#
# Environment: JOBS (parallel compile jobs, default 2), BUILD_ROOT (build
# trees, default PREFIX/.build), NICE (niceness of the compiler, default 10),
# BUILD_TYPE (default Release).
set -euo pipefail

usage() {
  echo "usage: $0 SRC_DIR PREFIX" >&2
  echo "  SRC_DIR: a Vitis-AI checkout (v3.5) or its src/vai_runtime folder" >&2
  echo "  PREFIX:  install prefix for unilog, xir, target-factory and vart" >&2
  exit 2
}

[ "$#" -eq 2 ] || usage
SRC_DIR=$1
PREFIX=$2
JOBS=${JOBS:-2}
NICE=${NICE:-10}
BUILD_TYPE=${BUILD_TYPE:-Release}

if [ -d "$SRC_DIR/src/vai_runtime" ]; then
  RUNTIME_DIR=$(cd "$SRC_DIR/src/vai_runtime" && pwd)
elif [ -d "$SRC_DIR/unilog" ] && [ -d "$SRC_DIR/xir" ]; then
  RUNTIME_DIR=$(cd "$SRC_DIR" && pwd)
else
  echo "$0: $SRC_DIR holds neither src/vai_runtime nor unilog/ and xir/" >&2
  exit 2
fi
for component in unilog xir target_factory vart; do
  if [ ! -f "$RUNTIME_DIR/$component/CMakeLists.txt" ]; then
    echo "$0: $RUNTIME_DIR/$component/CMakeLists.txt is missing" >&2
    exit 2
  fi
done
for tool in cmake git c++; do
  if ! command -v "$tool" >/dev/null; then
    echo "$0: $tool not found; run 'bash scripts/setup.sh --vart' first" >&2
    exit 127
  fi
done

mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
BUILD_ROOT=${BUILD_ROOT:-$PREFIX/.build}
mkdir -p "$BUILD_ROOT"

# Workaround 1: a git repository for the configure-time `git rev-parse HEAD`.
if ! git -C "$RUNTIME_DIR" rev-parse HEAD >/dev/null 2>&1; then
  echo "build-vitis-runtime: $RUNTIME_DIR is not in a git repository; making it one"
  git -C "$RUNTIME_DIR" init -q
  git -C "$RUNTIME_DIR" add -A
  git -C "$RUNTIME_DIR" -c user.name=build-vitis-runtime \
    -c user.email=build-vitis-runtime@localhost \
    commit -q -m "Vitis AI runtime source as supplied"
fi

# Workaround 2: -Werror neutralised. Compile options come after
# CMAKE_CXX_FLAGS on the command line, so -Wno-error wins.
NO_WERROR=$BUILD_ROOT/no_werror.cmake
echo 'add_compile_options(-Wno-error)' >"$NO_WERROR"

GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi

build_component() {
  local name=$1
  shift
  local build_dir=$BUILD_ROOT/$name
  echo "build-vitis-runtime: $name"
  cmake -S "$RUNTIME_DIR/$name" -B "$build_dir" "${GENERATOR[@]}" \
    -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_PROJECT_INCLUDE="$NO_WERROR" \
    -DBUILD_SHARED_LIBS=ON \
    -DBUILD_TEST=OFF \
    -DBUILD_PYTHON=OFF \
    "$@" >"$build_dir.configure.log" 2>&1 || {
      echo "$0: configuring $name failed; see $build_dir.configure.log" >&2
      tail -n 30 "$build_dir.configure.log" >&2
      exit 1
    }
  nice -n "$NICE" cmake --build "$build_dir" -j "$JOBS"
  cmake --install "$build_dir" >/dev/null
}

start=$(date +%s)
build_component unilog
build_component xir -DBUILD_CONTRIB=OFF -DBUILD_DOC=OFF
build_component target_factory
# No DPU, CPU, sim or RNN runners: the DPU runner needs XRT and a DPU
# controller, the CPU and sim runners are not open source. Runners are
# chosen at run time (PruneServe's --vart_runner_lib).
build_component vart -DENABLE_DPU_RUNNER=OFF -DENABLE_CPU_RUNNER=OFF \
  -DENABLE_SIM_RUNNER=OFF -DENABLE_XRNN_RUNNER=OFF -DENABLE_RNN_RUNNER=OFF
end=$(date +%s)

echo "build-vitis-runtime: installed into $PREFIX in $((end - start)) s"
echo "  configure PruneServe with: -DPRUNESERVE_WITH_VART=ON -DCMAKE_PREFIX_PATH=$PREFIX"
echo "  run it with:               LD_LIBRARY_PATH=$PREFIX/lib"
