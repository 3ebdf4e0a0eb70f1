#!/usr/bin/python3
"""Pruning speed of Torch-Pruning (the public Python library, v1.6.0), the
peer that bench/pruneserve_speed_bench.cc is compared with.

For each torchvision model (weights=None, num_classes=10) it times Torch-
Pruning's "analysis + surgery": building the dependency graph by tracing a
1x3x32x32 example, scoring channels with L1 magnitude
(MagnitudeImportance(p=1)) and physically removing a uniform 50 % of the
channels of every group (pruning_ratio=0.5, the 10-way classifier ignored).
Model construction is not timed. Each repeat prunes a freshly built model;
the median is reported with the parameter counts before and after.

Torch-Pruning is not a dependency of the project: it is imported from a
source checkout given by --tp-src, $TORCH_PRUNING_SRC or
/tmp/torch_pruning_src. Without one the script says so and exits 0.
Run with Debian's interpreter (it carries torch 1.13 and torchvision 0.14):

  /usr/bin/python3 bench/torch_pruning_peer.py [--repeats 3] [--threads 2]
      [--models resnet50,vgg19_bn] [--tp-src DIR] [--json]

--json prints one JSON object per model (side "torch_pruning"), which
bench/run_pruning_speed.sh reads; otherwise a table and a summary line.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time
import traceback

DEFAULT_MODELS = ("resnet50", "resnet101", "vgg19_bn", "mobilenet_v2",
                  "densenet121", "regnet_x_400mf")
DEFAULT_SRC = "/tmp/torch_pruning_src"


def find_source(arg):
    """Returns the checkout directory holding torch_pruning/, or None."""
    src = arg or os.environ.get("TORCH_PRUNING_SRC") or DEFAULT_SRC
    init = os.path.join(src, "torch_pruning", "__init__.py")
    return os.path.abspath(src) if os.path.isfile(init) else None


def source_version(src):
    """The version string setup.py declares; the package has no
    __version__."""
    try:
        with open(os.path.join(src, "setup.py")) as f:
            found = re.search(r'version\s*=\s*"([^"]+)"', f.read())
    except OSError:
        return "unknown"
    return found.group(1) if found else "unknown"


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def build_model(name):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10)
    return model.eval()


def prune_once(tp, name):
    """Builds a fresh model, prunes it and returns (seconds, params before,
    params after); only the Torch-Pruning calls are inside the timer."""
    import torch
    from torch import nn

    model = build_model(name)
    example = torch.randn(1, 3, 32, 32)
    # The layers producing the 10 logits keep their outputs.
    ignored = [m for m in model.modules()
               if isinstance(m, nn.Linear) and m.out_features == 10]
    before = count_params(model)
    start = time.perf_counter()
    importance = tp.importance.MagnitudeImportance(p=1)
    pruner = tp.pruner.MetaPruner(model, example, importance=importance,
                                  pruning_ratio=0.5, ignored_layers=ignored)
    pruner.step()
    seconds = time.perf_counter() - start
    after = count_params(model)
    # Outside the timer: the pruned model must still produce 10 logits.
    with torch.no_grad():
        shape = tuple(model(example).shape)
    if shape != (1, 10):
        raise RuntimeError(f"pruned model returns shape {shape}")
    return seconds, before, after


def measure(tp, name, repeats):
    row = {"side": "torch_pruning", "model": name, "repeats": repeats}
    try:
        runs = [prune_once(tp, name) for _ in range(repeats)]
    except Exception as e:  # Report the failure for this model, keep going.
        row["error"] = f"{type(e).__name__}: {e}".strip()
        row["trace"] = traceback.format_exc(limit=4)
        return row
    row["seconds"] = statistics.median(r[0] for r in runs)
    row["runs"] = [round(r[0], 4) for r in runs]
    row["params_before"] = runs[0][1]
    row["params_after"] = runs[0][2]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--tp-src", default=None,
                        help="Torch-Pruning checkout (default: "
                             "$TORCH_PRUNING_SRC, then " + DEFAULT_SRC + ")")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per model on stdout")
    args = parser.parse_args()
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be positive")

    src = find_source(args.tp_src)
    if src is None:
        where = args.tp_src or os.environ.get("TORCH_PRUNING_SRC") or \
            DEFAULT_SRC
        reason = (f"Torch-Pruning source not found at {where} (no "
                  f"torch_pruning/__init__.py); set --tp-src or "
                  f"TORCH_PRUNING_SRC")
        print(f"torch_pruning_peer: skipped: {reason}", file=sys.stderr)
        if args.json:
            print(json.dumps({"side": "torch_pruning", "skipped": reason}))
        return 0
    sys.path.insert(0, src)

    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    import torch_pruning as tp
    import torchvision

    version = source_version(src)
    header = (f"Torch-Pruning from {src} (version {version}), torch "
              f"{torch.__version__}, torchvision {torchvision.__version__}, "
              f"threads={args.threads}, median of {args.repeats}")
    print(header, file=sys.stderr if args.json else sys.stdout)
    if not args.json:
        print(f"{'model':<16} {'seconds':>9} {'params_before':>14} "
              f"{'params_after':>13}")
    total, failed = 0.0, 0
    for name in [m for m in args.models.split(",") if m]:
        row = measure(tp, name, args.repeats)
        if "error" in row:
            failed += 1
            print(f"{name}: {row['trace']}", file=sys.stderr)
        else:
            total += row["seconds"]
        if args.json:
            print(json.dumps(row), flush=True)
        elif "error" in row:
            print(f"{name:<16} error: {row['error']}", flush=True)
        else:
            print(f"{name:<16} {row['seconds']:>9.3f} "
                  f"{row['params_before']:>14} {row['params_after']:>13}",
                  flush=True)
    if not args.json:
        print(f"summary: Torch-Pruning analysis + surgery {total:.3f} s over "
              f"the models that pruned, {failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
