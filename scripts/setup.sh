#!/usr/bin/env bash
# Installs every Debian 12 package that PruneServe's build, tests, benchmarks
# and demo need. Idempotent: when everything is present it installs nothing
# and does not touch the network. Must run as root (or with sudo available).
#
#   bash scripts/setup.sh          the packages above
#   bash scripts/setup.sh --vart   also what scripts/build-vitis-runtime.sh
#                                  needs to build the Vitis AI runtime from
#                                  source (for -DPRUNESERVE_WITH_VART=ON)
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # core libraries
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev
  libsqlite3-dev libsqlitecpp-dev
  nlohmann-json3-dev libcli11-dev libssl-dev zlib1g-dev libstb-dev
  libre2-dev
  # tests
  libgtest-dev libgmock-dev python3 python3-torch
  python3-torchvision  # torchvision_prune_e2e_test
  clang-14 libclang-rt-14-dev  # libFuzzer + sanitizers (scripts/fuzz.sh)
  prometheus  # promtool and a real server for deploy/ (prometheus_integration_test)
  openssl  # CA, server and client certificates made by security_e2e_test
  libarchive-dev  # tar archives of uploaded data sets (core/datasets, prunectl)
  # data and demo
  dataset-fashion-mnist curl procps
)

# Optional: building the Vitis AI runtime (unilog, XIR, target-factory,
# VART) from its public source. Not libxrt-dev: Debian's XRT lacks
# xclIPSetReadRange, and the DPU runner that needs XRT is not built.
VART_PACKAGES=(
  libgoogle-glog-dev libprotobuf-dev protobuf-compiler
  libboost-dev libboost-filesystem-dev uuid-dev
)

for arg in "$@"; do
  case "$arg" in
    --vart) PACKAGES+=("${VART_PACKAGES[@]}") ;;
    *) echo "setup: unknown option $arg (known: --vart)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Tests start their own Prometheus; do not leave the package's service
# running on a machine where this script just installed it.
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
