#!/usr/bin/env bash
# LibTorch linear layer with OpenBLAS vs Debian's reference BLAS, side by
# side in one run. Usage: bench/run_blas_linear.sh [threads] (default 2).
set -euo pipefail
BIN="${BUILD_DIR:-build}/bench/blas_linear_bench"
THREADS="${1:-2}"
echo "== OpenBLAS (libblas.so.3 alternative)"
"$BIN" "$THREADS"
echo "== reference BLAS (LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas)"
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas "$BIN" "$THREADS"
