#!/usr/bin/env bash
# Side-by-side pruning speed: PruneServe's PruneModule
# (bench/pruneserve_speed_bench) against Torch-Pruning
# (bench/torch_pruning_peer.py) on the same torchvision models (weights
# random, 10 classes, input 1x3x32x32), uniform 50 % of channels by L1
# magnitude, 2 threads on each side. Scripts the models to TorchScript in a
# temporary directory, runs both sides and prints a table of median seconds,
# the Torch-Pruning/PruneServe time ratio (> 1 means PruneServe is faster)
# and the parameters left on each side, then a one-line summary. OpenMP
# waits passively on both sides (see OMP_WAIT_POLICY below).
#
#   bash bench/run_pruning_speed.sh [BUILD_DIR] [--repeats N]
#                                   [--prune-residual-stream]
# BUILD_DIR defaults to $PRUNESERVE_BUILD_DIR, then <repo>/build. The
# Torch-Pruning checkout comes from $TORCH_PRUNING_SRC (default
# /tmp/torch_pruning_src); without it the peer column is skipped.
# --prune-residual-stream makes PruneServe prune the residual stream and stem
# too, as Torch-Pruning does (by default it only prunes inside blocks).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRUNESERVE_BUILD_DIR:-$repo/build}"
if [[ $# -gt 0 && "$1" != --* ]]; then build="$1"; shift; fi

repeats=3
threads=2
ps_flags=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repeats) repeats="${2:?--repeats needs a value}"; shift 2 ;;
    --repeats=*) repeats="${1#*=}"; shift ;;
    --prune-residual-stream) ps_flags+=(--prune_residual_stream); shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if ! [[ "$repeats" =~ ^[1-9][0-9]*$ ]]; then
  echo "--repeats must be a positive integer, got '$repeats'" >&2
  exit 2
fi

bin="$build/bench/pruneserve_speed_bench"
if [[ ! -x "$bin" ]]; then
  echo "missing $bin; build it with:" \
       "cmake --build $build --target pruneserve_speed_bench" >&2
  exit 1
fi
# Debian's interpreter carries python3-torch and python3-torchvision; a pyenv
# python3 earlier on PATH may not.
py=/usr/bin/python3
models=resnet50,resnet101,vgg19_bn,mobilenet_v2,densenet121,regnet_x_400mf

export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
# Both sides wait passively at OpenMP barriers: on a 2-vCPU machine a
# spinning worker takes the core the other thread needs, and the many tiny
# parallel regions of an analysis (32x32 activations, weight slices) then
# cost more than they save. Override with OMP_WAIT_POLICY=ACTIVE.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
work="$(mktemp -d "${TMPDIR:-/tmp}/pruning_speed.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/models"

echo "== scripting $models to TorchScript"
"$py" - "$work/models" "$models" <<'EOF'
import sys

import torch
import torchvision

out_dir, names = sys.argv[1], sys.argv[2].split(",")
for name in names:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10)
    torch.jit.script(model.eval()).save(f"{out_dir}/{name}.pt")
EOF

# Model by model, PruneServe then Torch-Pruning: the two sides of a row run
# minutes apart at most, so a load change on a shared machine moves both.
# One process per model and side, so a model that crashes the engine costs
# only its own row (recorded as an error with the exit status).
: >"$work/pruneserve.jsonl"
: >"$work/peer.jsonl"
IFS=, read -ra model_list <<<"$models"
for m in "${model_list[@]}"; do
  echo "== $m: PruneServe ($bin)"
  status=0
  "$bin" --repeats="$repeats" --threads="$threads" --json "${ps_flags[@]}" \
    "$m=$work/models/$m.pt" >"$work/one.jsonl" || status=$?
  if ((status != 0)) && ! grep -q '^{' "$work/one.jsonl"; then
    why="pruneserve_speed_bench exited with status $status"
    if ((status > 128)); then why+=" (signal $((status - 128)))"; fi
    printf '{"side": "pruneserve", "model": "%s", "error": "%s"}\n' \
      "$m" "$why" >"$work/one.jsonl"
  fi
  cat "$work/one.jsonl"
  cat "$work/one.jsonl" >>"$work/pruneserve.jsonl"
  echo "== $m: Torch-Pruning (bench/torch_pruning_peer.py)"
  "$py" "$repo/bench/torch_pruning_peer.py" --repeats "$repeats" \
    --threads "$threads" --models "$m" --json | tee -a "$work/peer.jsonl" ||
    echo "torch_pruning_peer.py failed (status ${PIPESTATUS[0]})" >&2
done
echo

"$py" - "$work/pruneserve.jsonl" "$work/peer.jsonl" "$models" "$repeats" \
  "$threads" "${ps_flags[*]:-}" <<'EOF'
import json
import math
import sys

ps_file, tp_file, names, repeats, threads, ps_flags = sys.argv[1:7]


def read(path):
    rows, skipped = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if "skipped" in row:
                skipped = row["skipped"]
            else:
                rows[row["model"]] = row
    return rows, skipped


ps, _ = read(ps_file)
tp, tp_skipped = read(tp_file)


def cell(row, key, fmt):
    if row is None:
        return "-"
    if "error" in row:
        return "error"
    return fmt.format(row[key])


print(f"{'model':<15} | {'params before':>13} | {'pruneserve s':>12} | "
      f"{'torch-pruning s':>15} | {'ratio (TP/PS)':>13} | "
      f"{'PS params after':>15} | {'TP params after':>15}")
print("-" * 116)
ratios, errors = [], []
for name in names.split(","):
    p, t = ps.get(name), None if tp_skipped else tp.get(name)
    ok_p = p is not None and "error" not in p
    ok_t = t is not None and "error" not in t
    before = p if ok_p else t
    ratio = "-"
    if ok_p and ok_t and p["seconds"] > 0:
        ratios.append(t["seconds"] / p["seconds"])
        ratio = f"{ratios[-1]:.2f}"
    print(f"{name:<15} | {cell(before, 'params_before', '{:d}'):>13} | "
          f"{cell(p, 'seconds', '{:.3f}'):>12} | "
          f"{cell(t, 'seconds', '{:.3f}'):>15} | {ratio:>13} | "
          f"{cell(p, 'params_after', '{:d}'):>15} | "
          f"{cell(t, 'params_after', '{:d}'):>15}")
    for side, row in (("pruneserve", p), ("torch-pruning", t)):
        if row is None and not (side == "torch-pruning" and tp_skipped):
            errors.append(f"  {name} {side}: no result")
        elif row is not None and "error" in row:
            errors.append(f"  {name} {side}: {row['error']}")
if errors:
    print("errors:")
    print("\n".join(errors))
residual = "residual stream pruned" if ps_flags else "residual stream kept"
setup = f"median of {repeats}, {threads} threads"
if tp_skipped:
    pruned = sum(1 for r in ps.values() if "error" not in r)
    print(f"summary: {setup}; PruneServe pruned {pruned} of "
          f"{len(names.split(','))} models ({residual}); Torch-Pruning "
          f"column skipped: {tp_skipped}")
elif ratios:
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"summary: {setup}; on the {len(ratios)} models both sides "
          f"pruned, Torch-Pruning takes {geomean:.2f}x PruneServe's time "
          f"(geometric mean of TP/PS, > 1 = PruneServe faster; PruneServe "
          f"{residual}); {len(errors)} failures")
else:
    print(f"summary: {setup}; no model pruned on both sides; "
          f"{len(errors)} failures")
EOF
