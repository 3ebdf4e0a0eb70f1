#!/usr/bin/env bash
# The main job end to end on embedded defaults:
#   1. set up and build, start pruneserve on its default ports (gRPC
#      127.0.0.1:8500, metrics 127.0.0.1:9464) with data under var/pruneserve;
#   2. build the paper's VGG13-BN (narrow, for 1x28x28 input) from the zoo and
#      train it briefly on Fashion-MNIST;
#   3. upload it, submit a budgeted pruning job (half the MACs, spent where
#      the measured damage is least; at equal FLOPs in pruning_quality_bench
#      it beats or ties every baseline, docs/pruning_quality.md), fine-tune,
#      and watch it;
#   4. load the dense and the pruned version side by side, run `prunectl
#      bench` against both and print params, FLOPs, accuracy and fps.
# Knobs (environment): TRAIN_LIMIT, EPOCHS, FINETUNE_EPOCHS, WIDTH,
# BENCH_SECONDS, BUILD_DIR, PRUNESERVE_SERVER, PRUNESERVE_METRICS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Only what the demo runs; scripts/test.sh builds everything.
BUILD_TARGETS="${BUILD_TARGETS:-pruneserve prunectl}" bash scripts/build.sh

BUILD_DIR="${BUILD_DIR:-build}"
PRUNECTL="$BUILD_DIR/client/prunectl"
SERVER="${PRUNESERVE_SERVER:-127.0.0.1:8500}"
METRICS="${PRUNESERVE_METRICS:-127.0.0.1:9464}"
TRAIN_LIMIT="${TRAIN_LIMIT:-10000}"
EPOCHS="${EPOCHS:-2}"
FINETUNE_EPOCHS="${FINETUNE_EPOCHS:-1}"
WIDTH="${WIDTH:-0.25}"
BENCH_SECONDS="${BENCH_SECONDS:-8}"
FASHION="fashion-mnist:/usr/share/datasets/fashion-mnist"
WORK="var/demo"
NAME="vgg13_bn"
mkdir -p "$WORK"
ctl() { "$PRUNECTL" --server "$SERVER" "$@"; }
start=$(date +%s)

echo "== starting pruneserve (data in var/pruneserve)"
"$BUILD_DIR/server/pruneserve" --listen="$SERVER" --metrics_listen="$METRICS" \
  --instances=2 > "$WORK/server.out" 2> "$WORK/server.log" &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "serving" "$WORK/server.out" 2>/dev/null && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done
cat "$WORK/server.out"

echo "== building $NAME (width $WIDTH, 1x28x28) and training it for $EPOCHS epoch(s) on $TRAIN_LIMIT Fashion-MNIST images"
"$PRUNECTL" zoo build "$NAME" --in-channels 1 --input-size 28 --num-classes 10 \
  --width "$WIDTH" --train "$FASHION:train" --train-limit "$TRAIN_LIMIT" \
  --epochs "$EPOCHS" --out "$WORK/$NAME.pt"

echo "== uploading"
dense_version=$(ctl --json model upload "$WORK/$NAME.pt" --name "$NAME" \
  --input-shape 1,1,28,28 --description "VGG13-BN, briefly trained on Fashion-MNIST" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
echo "stored $NAME:$dense_version"

echo "== uploading Fashion-MNIST as a data set (the server reads no client paths)"
ctl dataset upload /usr/share/datasets/fashion-mnist --name fashion-mnist |
  grep -E "^(version|split)"

echo "== budgeted pruning job: half the MACs, removed where the measured damage is least"
echo "   (at equal FLOPs it beats or ties every baseline in docs/pruning_quality.md; --policy refined is the paper's), then $FINETUNE_EPOCHS fine-tuning epoch(s)"
job=$(ctl job submit "$NAME:$dense_version" --train dataset:fashion-mnist:train \
  --eval dataset:fashion-mnist:test --train-limit "$TRAIN_LIMIT" \
  --policy budgeted --target-flops 0.5 --epochs "$FINETUNE_EPOCHS" --lr 0.01)
echo "submitted $job"
ctl job watch "$job"
pruned_version=$(ctl --json job get "$job" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["result_model_version"])')

echo "== loading both versions for inference (2 instances each)"
ctl serve load "$NAME:$dense_version"
ctl serve load "$NAME:$pruned_version"
ctl serve ls

echo "== benchmarking each for ${BENCH_SECONDS}s (4 clients, batch 8)"
ctl --json bench "$NAME:$dense_version" -c 4 -b 8 -t "$BENCH_SECONDS" > "$WORK/bench_dense.json"
ctl --json bench "$NAME:$pruned_version" -c 4 -b 8 -t "$BENCH_SECONDS" > "$WORK/bench_pruned.json"
ctl --json job get "$job" > "$WORK/job.json"

echo "== dense vs pruned"
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
job = json.load(open(f"{work}/job.json"))
dense = json.load(open(f"{work}/bench_dense.json"))
pruned = json.load(open(f"{work}/bench_pruned.json"))
rep = job["report"]
base, final = rep["baseline"], rep["final"]
def n(x): return float(x)
rows = [
    ("params", f"{int(base['params']):,}", f"{int(final['params']):,}",
     f"{n(final['params'])/n(base['params']):.3f}x"),
    ("FLOPs (MACs)", f"{int(base['flops']):,}", f"{int(final['flops']):,}",
     f"{n(final['flops'])/n(base['flops']):.3f}x"),
    ("top-1 (10k test)", f"{100*n(base['top1_accuracy']):.2f}%",
     f"{100*n(final['top1_accuracy']):.2f}%",
     f"{100*(n(final['top1_accuracy'])-n(base['top1_accuracy'])):+.2f} pt"),
    ("fps (img/s)", f"{dense['images_per_second']:.0f}",
     f"{pruned['images_per_second']:.0f}",
     f"{pruned['images_per_second']/dense['images_per_second']:.2f}x"),
    ("p99 latency ms", f"{dense['p99_ms']:.2f}", f"{pruned['p99_ms']:.2f}",
     f"{pruned['p99_ms']/dense['p99_ms']:.2f}x"),
]
print(f"{'':18}{'dense':>14}{'pruned':>14}{'ratio':>12}")
for r in rows:
    print(f"{r[0]:18}{r[1]:>14}{r[2]:>14}{r[3]:>12}")
PY

echo "== /metrics (inference and jobs)"
curl -fsS "http://$METRICS/metrics" |
  grep -E '^pruneserve_(inference_throughput|inference_request_success_total|jobs\{|jobs_finished)' || true
echo "== done in $(( $(date +%s) - start ))s (after the build)"
