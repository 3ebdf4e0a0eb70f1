#!/usr/bin/env bash
# The main job end to end on embedded defaults: build, start pruneserve on its
# default ports (gRPC 127.0.0.1:8500, metrics 127.0.0.1:9464) with data under
# ./var/pruneserve, build the paper's VGG13-BN for Fashion-MNIST from the zoo,
# upload it, list it, show its metadata, and scrape /metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

BUILD_DIR="${BUILD_DIR:-build}"
PRUNECTL="$BUILD_DIR/client/prunectl"
SERVER="${PRUNESERVE_SERVER:-127.0.0.1:8500}"
METRICS="${PRUNESERVE_METRICS:-127.0.0.1:9464}"
WORK="var/demo"
mkdir -p "$WORK"

echo "== starting pruneserve (data in var/pruneserve)"
"$BUILD_DIR/server/pruneserve" --listen="$SERVER" --metrics_listen="$METRICS" \
  > "$WORK/server.out" 2> "$WORK/server.log" &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "serving" "$WORK/server.out" 2>/dev/null && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done
cat "$WORK/server.out"

echo "== building vgg13_bn for 1x28x28 input from the zoo"
"$PRUNECTL" zoo build vgg13_bn --in-channels 1 --input-size 28 \
  --num-classes 10 --out "$WORK/vgg13_bn.pt"

echo "== uploading"
"$PRUNECTL" --server "$SERVER" model upload "$WORK/vgg13_bn.pt" \
  --name vgg13_bn --input-shape 1,1,28,28 \
  --description "VGG13-BN for Fashion-MNIST (untrained)"

echo "== listing"
"$PRUNECTL" --server "$SERVER" model list

echo "== metadata of the latest version"
"$PRUNECTL" --server "$SERVER" model show vgg13_bn

echo "== /metrics (repository and process)"
curl -fsS "http://$METRICS/metrics" | grep -E '^(pruneserve_repository|process_(resident|cpu|open))'
echo "== done"
