# Shell helpers shared by the benches that run the real server
# (run_soak.sh, run_crash.sh, run_disk_full.sh). Source it; it defines
# functions only.

# require_fashion_mnist BENCH_NAME — sets `dataset` to Debian's
# dataset-fashion-mnist directory; exits 77 (skipped) with a message when it
# is not installed.
require_fashion_mnist() {
  dataset=/usr/share/datasets/fashion-mnist
  if [[ ! -f "$dataset/train-images-idx3-ubyte.gz" ]]; then
    echo "$1: $dataset is not installed; skipped" >&2
    exit 77
  fi
}

# make_zoo_models DIR — writes DIR/m1.pt, m2.pt, m3.pt: vgg11_bn at width
# 0.25 for 1x28x28 inputs, one seed each, with DIR/prunectl.
make_zoo_models() {
  local dir="$1" seed
  echo "== making models (vgg11_bn x0.25 for 1x28x28, distinct seeds)"
  for seed in 1 2 3; do
    "$dir/prunectl" zoo build vgg11_bn --in-channels 1 --input-size 28 \
      --width 0.25 --seed "$seed" -o "$dir/m$seed.pt" > /dev/null
  done
}

# copy_binaries BUILD_DIR DEST_DIR PATH... — copies each BUILD_DIR/PATH
# into DEST_DIR, so a rebuild during a run does not change what is
# measured; client/prunectl brings client/prunectl-local along (prunectl
# starts it, from its own directory, for `zoo` and `prune --local`). Exits 1
# naming a missing binary.
copy_binaries() {
  local build="$1" dest="$2" bin
  shift 2
  local bins=("$@")
  if [[ " ${bins[*]} " == *" client/prunectl "* ]]; then
    bins+=(client/prunectl-local)
  fi
  for bin in "${bins[@]}"; do
    [[ -x "$build/$bin" ]] || { echo "missing $build/$bin (build it first)" >&2; exit 1; }
    cp "$build/$bin" "$dest/"
  done
}

# start_server SERVER_BINARY LOG_FILE [FLAG...] — starts the server on a
# free loopback port without the metrics endpoint, plus FLAGs, and waits up
# to 20 s for its "serving grpc_port=" line. Sets `pid` and `port`; on
# failure prints the log and exits 1.
start_server() {
  local binary="$1" log="$2"
  shift 2
  "$binary" --listen=127.0.0.1:0 --metrics_listen= "$@" > "$log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 200); do
    port="$(sed -n 's/.*serving grpc_port=\([0-9]*\).*/\1/p' "$log" | head -n 1)"
    [[ -n "$port" ]] && return 0
    sleep 0.1
  done
  cat "$log"
  echo "server did not start" >&2
  exit 1
}
