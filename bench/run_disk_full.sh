#!/usr/bin/env bash
# Disk-full behaviour of the real server: its data directory on a small
# tmpfs. First a pruning job's checkpoints: the disk is filled while the job
# fine-tunes, so its next checkpoint write fails; the job must end FAILED
# with RESOURCE_EXHAUSTED and a job submitted after the space returns must
# succeed. Then uploads of distinct TorchScript models until the disk is
# full. Prints what was acknowledged, the code of the first refused upload,
# the sha256 check of every acknowledged version, whether an upload works
# again after a version is deleted (space returned), and `prunectl model
# verify` over everything stored. Exits non-zero when a check fails: a
# refusal that is not RESOURCE_EXHAUSTED, a lost or damaged version, a dead
# server, or no recovery. The checkpoint phase needs Debian's
# dataset-fashion-mnist; without it only the upload phase runs.
#
#   sudo bash bench/run_disk_full.sh [BUILD_DIR] [--size-mb 40]
#
# Needs root (mount -t tmpfs); without it the script says so and exits 77.
# Elsewhere the same holds for any file system that returns ENOSPC or
# EDQUOT; a quota or a full partition behaves as this tmpfs does.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/bench/server_lib.sh"
build="${PRUNESERVE_BUILD_DIR:-$repo/build}"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$1"; shift; fi
size_mb=40
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size-mb) size_mb="${2:?--size-mb needs a value}"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ "$(id -u)" != 0 ]]; then
  echo "disk-full bench: needs root to mount a tmpfs; skipped" >&2
  exit 77
fi
server="$build/server/pruneserve"
cli="$build/client/prunectl"
for bin in "$server" "$cli"; do
  [[ -x "$bin" ]] || { echo "missing $bin (build it first)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/disk_full.XXXXXX")"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  umount "$work/data" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data" "$work/models"
mount -t tmpfs -o "size=${size_mb}m" tmpfs "$work/data"

echo "== making models (about 3 MB each, distinct weights)"
/usr/bin/python3 - "$work/models" <<'PY'
import sys
import torch
out = sys.argv[1]
for i in range(24):
    torch.manual_seed(i)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 256, 3), torch.nn.ReLU(),
                            torch.nn.Conv2d(256, 256, 3),
                            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                            torch.nn.Linear(256, 10))
    torch.jit.script(m).save("%s/m%02d.pt" % (out, i))
PY

server_flags=(--data_dir="$work/data" --scrub_interval_seconds=0)
# Servers that only read job data under named roots need the data set's.
server_help="$("$server" --helpfull 2>&1 || true)"
if [[ "$server_help" == *--data_roots* ]]; then
  server_flags+=(--data_roots=/usr/share/datasets)
fi
start_server "$server" "$work/server.log" "${server_flags[@]}"
export PRUNESERVE_SERVER="127.0.0.1:$port"
status=0

# job_field ID FIELD — one top-level field of `prunectl job get --json`
# (FIELD "phase" reads progress.phase).
job_field() {
  "$cli" job get "$1" --json | /usr/bin/python3 -c '
import json, sys
job = json.load(sys.stdin)
f = sys.argv[1]
print(job.get("progress", {}).get("phase", "") if f == "phase" else job.get(f, ""))
' "$2"
}
# await_final ID SECONDS — waits for the job to end, at most SECONDS;
# prints its last state.
await_final() {
  local state="" deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    state="$(job_field "$1" state)"
    case "$state" in
      JOB_STATE_SUCCEEDED|JOB_STATE_FAILED|JOB_STATE_CANCELLED) break ;;
    esac
    sleep 0.5
  done
  echo "$state"
}
fashion=/usr/share/datasets/fashion-mnist
checkpoint_result="skipped (no $fashion)"
if [[ -f "$fashion/train-images-idx3-ubyte.gz" ]]; then
  echo "== checkpoints: fill the disk while a job fine-tunes"
  "$cli" zoo build vgg11_bn --in-channels 1 --input-size 28 --width 0.25 \
    --seed 1 -o "$work/job_model.pt" > /dev/null
  "$cli" model upload "$work/job_model.pt" --name job_model \
    --input-shape 1,1,28,28 > /dev/null
  job_flags=(--train "fashion-mnist:$fashion:train"
             --eval "fashion-mnist:$fashion:test" --train-limit 2000
             --eval-limit 200 --policy uniform --criterion l1 --ratio 0.3)
  job="$("$cli" job submit job_model "${job_flags[@]}" --epochs 4)"
  for _ in $(seq 1 3000); do
    phase="$(job_field "$job" phase)"
    [[ "$phase" == finetune* ]] && break
    [[ "$(job_field "$job" state)" == JOB_STATE_RUNNING ||
       "$(job_field "$job" state)" == JOB_STATE_QUEUED ]] || break
    sleep 0.2
  done
  echo "job $job reached phase: ${phase:-none}"
  # Everything that is left, so the next checkpoint cannot be written.
  dd if=/dev/zero of="$work/data/filler" bs=1M 2> /dev/null || true
  # Four epochs of 2,000 images take well under a minute on two cores.
  state="$(await_final "$job" 180)"
  code="$(job_field "$job" error_code)"
  message="$(job_field "$job" error_message)"
  echo "job on a full disk: $state, error_code $code: $message"
  grep "$job" "$work/server.log" | sed 's/^/  server log: /' | sort | uniq -c | head -n 5
  checkpoint_result="$state code $code"
  if [[ "$state" != JOB_STATE_FAILED || "$code" != 8 ]]; then
    echo "FAIL: the job did not fail with RESOURCE_EXHAUSTED (8)"
    status=1
  fi
  kill -0 "$pid" 2>/dev/null || { echo "FAIL: server died"; exit 1; }
  rm -f "$work/data/filler"
  retry="$("$cli" job submit job_model "${job_flags[@]}" --epochs 1)"
  state="$(await_final "$retry" 300)"
  echo "job after the space returned: $state"
  checkpoint_result+=", then $state"
  if [[ "$state" != JOB_STATE_SUCCEEDED ]]; then
    echo "FAIL: no job succeeded after space was freed"
    status=1
  fi
fi

echo "== uploading into a ${size_mb} MB data directory"
acked=()
refusal=""
for f in "$work"/models/*.pt; do
  name="$(basename "$f" .pt)"
  if out="$("$cli" model upload "$f" 2>&1)"; then
    acked+=("$name")
  else
    refusal="$out"
    break
  fi
done
echo "acknowledged uploads: ${#acked[@]}"
echo "first refusal: ${refusal:-none}"
if [[ -z "$refusal" ]]; then
  echo "FAIL: the disk never filled; raise the model count or lower --size-mb"
  status=1
elif [[ "$refusal" != *RESOURCE_EXHAUSTED* ]]; then
  echo "FAIL: the refusal is not RESOURCE_EXHAUSTED"
  status=1
fi

echo "== every acknowledged version is listed and downloads intact"
intact=0
for name in "${acked[@]}"; do
  want="$(sha256sum "$work/models/$name.pt" | cut -d' ' -f1)"
  if "$cli" model download "$name:1" -o "$work/got.pt" > /dev/null 2>&1 &&
     [[ "$(sha256sum "$work/got.pt" | cut -d' ' -f1)" == "$want" ]]; then
    intact=$((intact + 1))
  else
    echo "FAIL: $name:1 lost or damaged"
    status=1
  fi
  rm -f "$work/got.pt"
done
echo "intact after disk full: $intact of ${#acked[@]}"
leftovers="$(find "$work/data/tmp" -type f 2>/dev/null | wc -l)"
echo "partial files left in tmp/: $leftovers"

echo "== space returns: delete one version, upload again"
if [[ ${#acked[@]} -gt 0 ]] && "$cli" model rm "${acked[0]}:1" > /dev/null &&
   "$cli" model upload "$work/models/${acked[0]}.pt" --name recovered > /dev/null; then
  echo "recovered: yes"
else
  echo "FAIL: no upload succeeded after space was freed"
  status=1
fi
echo "== every stored version re-hashed on the server"
if "$cli" model verify | tail -n 1; then
  echo "verify: all intact"
else
  echo "FAIL: prunectl model verify found damaged versions"
  status=1
fi
kill -0 "$pid" 2>/dev/null && echo "server alive: yes" || { echo "FAIL: server died"; status=1; }
df -h "$work/data" | tail -n 1 | awk '{print "data dir: " $3 " used of " $2}'
echo "summary: checkpoint job ${checkpoint_result}; ${#acked[@]} uploads acknowledged, refusal ${refusal:+$(echo "$refusal" | grep -o 'RESOURCE_EXHAUSTED\|[A-Z_]\{6,\}' | head -n 1)}, $intact intact, status $status"
exit "$status"
