#!/usr/bin/python3
"""`prunectl prune --local` on every convolutional classification model of
torchvision 0.14, built with random weights (weights=None, num_classes=10)
and saved with torch.jit.script. Two checks per model:

  (a) uniform 50 % L1: the JSON report's params_after is at most 2/3 of
      params_before, both agree with the parameters Python counts in the
      input and the pruned file, and the pruned file loads with
      torch.jit.load and maps a 1x3xSxS input to a (1, 10) output.
  (b) exactness: every nn.BatchNorm2d gets weight = bias = 0 at even channel
      indices, and every nn.Conv2d its even output channels zeroed, so a
      channel that BatchNorm-gamma scores as 0 carries exact zeros. `--policy threshold --threshold 0 --criterion
      bn_gamma` must remove parameters and leave the output unchanged:
      max|Z(x) - PZ(x)| / max|Z(x)| <= 1e-5 on a fixed random input. Models
      without BatchNorm2d have nothing to zero (n/a).

The ViT and Swin transformer families are left out; every other builder
that torch.jit.script accepts is tested (a builder it rejects is reported
as SKIP). Models above --part-a-only-above parameters run (a) only, to keep
the run short on a small CI machine; --full runs (b) on them too.

Models are tested by --jobs worker processes (default 2, each with
cores / jobs LibTorch threads, as is prunectl), so a crash while loading a
pruned file fails that model with the step it was in, and the other models
still run.

Prints one line per model as it finishes, then a table; exits 1 if any
model fails, 77 (CTest's skip code here) when this interpreter lacks torch
or torchvision, 2 on bad arguments. Run with Debian's interpreter:

  /usr/bin/python3 tests/e2e/torchvision_prune_e2e_test.py \\
      --prunectl build/client/prunectl [--models resnet18,vgg11_bn] \\
      [--report out.json] [--full] [--jobs 2] [--work-dir DIR]

The model list can also come from $PRUNESERVE_TV_MODELS (comma-separated).
"""

import argparse
import functools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings

SKIP_EXIT_CODE = 77

# Transformer families; everything else in torchvision.models is a CNN
# (MaxViT mixes MBConv blocks with attention and is kept).
EXCLUDED_PREFIXES = ("vit_", "swin_")

# Builder names, for a torchvision without torchvision.models.list_models.
KNOWN_BUILDERS = (
    ["alexnet", "googlenet", "inception_v3", "mobilenet_v2",
     "mobilenet_v3_small", "mobilenet_v3_large"] +
    ["convnext_" + s for s in ("tiny", "small", "base", "large")] +
    ["densenet121", "densenet161", "densenet169", "densenet201"] +
    ["efficientnet_b%d" % i for i in range(8)] +
    ["efficientnet_v2_" + s for s in ("s", "m", "l")] +
    ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"] +
    ["regnet_x_" + s for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf",
                               "16gf", "32gf")] +
    ["regnet_y_" + s for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf",
                               "16gf", "32gf", "128gf")] +
    ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
     "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
     "wide_resnet50_2", "wide_resnet101_2"] +
    ["shufflenet_v2_x" + s for s in ("0_5", "1_0", "1_5", "2_0")] +
    ["squeezenet1_0", "squeezenet1_1"] +
    ["vgg%d%s" % (d, bn) for d in (11, 13, 16, 19) for bn in ("", "_bn")])

NUM_CLASSES = 10
DEFAULT_INPUT_SIZE = 64
# Smallest convenient sizes that survive each network's downsampling
# (inception_v3 needs >= 75; MaxViT's 7x7 window partition at stride 32
# needs 224).
INPUT_SIZE = {"inception_v3": 96, "maxvit_t": 224}
# The auxiliary heads only run in training mode; scripted, both models
# return a namedtuple whose first field is the logits.
BUILDER_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}

PARAMS_MAX_FRACTION = 2.0 / 3.0
EXACT_MAX_REL_ERR = 1e-5
SEED = 20240101

# Worker <-> coordinator protocol: one line each, on the worker's stdout.
STEP_PREFIX = "@@step "
PARTIAL_PREFIX = "@@partial "
RESULT_PREFIX = "@@result "


class CheckFailed(Exception):
    """A failed assertion; the message is the row's error text."""


def import_torch():
    """Returns (torch, torchvision), or exits 77 when either is missing."""
    try:
        import torch
        import torchvision
    except ModuleNotFoundError as e:
        if e.name in ("torch", "torchvision"):
            print("SKIP: %s has no %s (Debian: apt-get install "
                  "python3-torch python3-torchvision)" %
                  (sys.executable, e.name))
            sys.exit(SKIP_EXIT_CODE)
        raise
    # torchvision's notes on scripting ("Scripted GoogleNet always returns
    # GoogleNetOutputs Tuple", ...) would drown the per-model lines.
    warnings.filterwarnings("ignore", category=UserWarning,
                            module=r"torchvision\.|torch\.")
    warnings.filterwarnings("ignore", message=r"Scripted \w+ always returns")
    return torch, torchvision


def classification_builders(models):
    if hasattr(models, "list_models"):
        names = models.list_models(module=models)
    else:
        names = [n for n in KNOWN_BUILDERS if hasattr(models, n)]
    return sorted(n for n in names if not n.startswith(EXCLUDED_PREFIXES))


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def logits(output):
    """The first element of a tuple/namedtuple output, else the output."""
    if isinstance(output, (tuple, list)):
        return output[0]
    return output


def as_int(value):
    """Proto JSON writes int64 fields as strings."""
    return int(value)


def first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def tail_lines(text, n=6):
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])


def describe(report):
    """The engine's own account of what it did: groups pruned of those it
    found, the most common reasons it left groups alone, its warnings."""
    layers = report.get("layers", [])
    pruned = sum(as_int(l.get("channels_after", 0)) <
                 as_int(l.get("channels_before", 0)) for l in layers)
    text = "report: %d of %d groups pruned" % (pruned, len(layers))
    reasons = {}
    for l in layers:
        if l.get("skip_reason"):
            reasons[l["skip_reason"]] = reasons.get(l["skip_reason"], 0) + 1
    if reasons:
        top = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
        text += "; left alone: " + ", ".join("%dx %s" % (n, r)
                                            for r, n in top)
    warnings_ = report.get("warnings", [])
    if warnings_:
        text += "; warnings: " + " | ".join(warnings_[:3])
    return text


class Prunectl:
    """Runs `prunectl --json prune --local` and returns the pruning report."""

    def __init__(self, binary, threads, timeout):
        self.binary = binary
        self.threads = threads
        self.timeout = timeout

    def prune(self, src, dst, size, flags):
        """Raises CheckFailed with prunectl's error text when it fails."""
        cmd = [self.binary, "--json", "prune", "--local", src, "-o", dst,
               "--input-shape", "1,3,%d,%d" % (size, size), "-q",
               "--threads", str(self.threads)] + flags
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailed("prunectl %s timed out after %d s" %
                              (" ".join(flags), self.timeout))
        if r.returncode != 0:
            raise CheckFailed("prunectl exit %s: %s" %
                              (exit_text(r.returncode),
                               tail_lines(r.stderr + r.stdout)))
        try:
            pruning = json.loads(r.stdout)["rounds"][0]["pruning"]
        except (ValueError, KeyError, IndexError) as e:
            raise CheckFailed("prunectl printed no pruning report (%s): %s" %
                              (e, tail_lines(r.stdout)))
        if not os.path.isfile(dst):
            raise CheckFailed("prunectl exited 0 but wrote no %s" % dst)
        return pruning


def exit_text(code):
    if code < 0:
        try:
            return "signal %s" % signal.Signals(-code).name
        except ValueError:
            return "signal %d" % -code
    return str(code)


class ModelCase:
    """Builds one torchvision model and runs checks (a) and (b) on it,
    filling `row` (one line of the summary and of the JSON report). Files
    go to `work_dir` and are removed when a check is done unless
    `keep_files`. `on_step(text)` is called before each step and
    `on_part_done(row)` after each check."""

    def __init__(self, torch, models, name, prunectl, work_dir, keep_files,
                 on_step, on_part_done):
        self.torch = torch
        self.models = models
        self.name = name
        self.prunectl = prunectl
        self.dir = work_dir
        self.keep_files = keep_files
        self.on_step = on_step
        self.on_part_done = on_part_done
        self.step_name, self.step_start = None, None
        self.size = INPUT_SIZE.get(name, DEFAULT_INPUT_SIZE)
        self.row = {"model": name, "input_size": self.size, "status": "PASS",
                    "a": "not run", "b": "not run", "errors": [],
                    "step_seconds": {}}

    def step(self, name):
        """Starts step `name` (None: ends the last one), timing each."""
        now = time.monotonic()
        if self.step_name is not None:
            self.row["step_seconds"][self.step_name] = round(
                now - self.step_start, 2)
        self.step_name, self.step_start = name, now
        if name is not None:
            self.on_step(name)

    def run(self, part_a_only_above):
        """Runs (a), then (b) unless the model has more than
        `part_a_only_above` parameters. Returns the row."""
        torch = self.torch
        start = time.monotonic()
        self.step("building")
        try:
            model = self.build()
        except Exception as e:  # A builder that cannot build is a failure.
            self.fail("a", "build: %s: %s" % (type(e).__name__,
                                             first_line(e)))
            return self.finish(start)
        self.row["params"] = count_params(model)
        self.step("scripting")
        try:
            scripted = torch.jit.script(model)
        except Exception as e:
            self.row["status"] = "SKIP"
            self.row["a"] = self.row["b"] = "-"
            self.row["errors"].append("torch.jit.script rejects it: %s" %
                                      first_line(e))
            return self.finish(start)
        self.step("saving")
        scripted.save(self.path("dense"))
        self.part("a", self.check_uniform)
        self.remove("dense", "uniform")

        bns = [n for n, m in model.named_modules()
               if isinstance(m, torch.nn.BatchNorm2d)]
        convs = [n for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Conv2d)]
        if not bns:
            self.row["b"] = "n/a"
        elif self.row["params"] > part_a_only_above:
            self.row["b"] = "skipped (large)"
        else:
            self.part("b", lambda: self.check_exactness(scripted, bns, convs))
            self.remove("zeroed", "zeroed_pruned")
        return self.finish(start)

    def path(self, stem):
        return os.path.join(self.dir, "%s_%s.pt" % (self.name, stem))

    def input(self):
        g = self.torch.Generator().manual_seed(SEED)
        return self.torch.randn(1, 3, self.size, self.size, generator=g)

    def build(self):
        kwargs = {"weights": None, "num_classes": NUM_CLASSES}
        kwargs.update(BUILDER_KWARGS.get(self.name, {}))
        self.torch.manual_seed(SEED)
        return getattr(self.models, self.name)(**kwargs).eval()

    def part(self, part, check):
        try:
            check()
            self.row[part] = "pass"
        except CheckFailed as e:
            self.fail(part, str(e))
        except Exception as e:
            self.fail(part, "%s: %s" % (type(e).__name__, first_line(e)))
        self.on_part_done(self.row)

    def fail(self, part, message):
        self.row[part] = "FAIL"
        self.row["status"] = "FAIL"
        self.row["errors"].append("(%s) %s" % (part, message))

    def finish(self, start):
        self.step(None)
        self.row["seconds"] = round(time.monotonic() - start, 1)
        return self.row

    def remove(self, *stems):
        if self.keep_files:
            return
        for stem in stems:
            try:
                os.remove(self.path(stem))
            except FileNotFoundError:
                pass

    def check_uniform(self):
        torch = self.torch
        dense, pruned = self.path("dense"), self.path("uniform")
        self.step("(a) prunectl uniform 0.5 l1")
        report = self.prunectl.prune(
            dense, pruned, self.size,
            ["--policy", "uniform", "--ratio", "0.5", "--criterion", "l1"])
        before = as_int(report.get("params_before", 0))
        after = as_int(report.get("params_after", 0))
        self.row["params_before"] = before
        self.row["params_after"] = after
        self.row["macs_before"] = as_int(report.get("flops_before", 0))
        self.row["macs_after"] = as_int(report.get("flops_after", 0))
        # Every broken promise is listed, not just the first.
        problems = []
        if before != self.row["params"]:
            problems.append("report params_before %d != %d counted in "
                            "Python" % (before, self.row["params"]))
        if after > PARAMS_MAX_FRACTION * before:
            problems.append("params %d -> %d: only %.1f %% removed, want "
                            ">= 33.3 %% (%s)" %
                            (before, after,
                             100.0 * (1 - after / max(before, 1)),
                             describe(report)))
        try:
            self.step("(a) loading the pruned file")
            module = torch.jit.load(pruned).eval()
            counted = count_params(module)
            if after != counted:
                problems.append("report params_after %d != %d counted in "
                                "the pruned file" % (after, counted))
            self.step("(a) running the pruned model")
            with torch.no_grad():
                out = logits(module(self.input()))
            if tuple(out.shape) != (1, NUM_CLASSES):
                problems.append("pruned output shape %s, want (1, %d)" %
                                (tuple(out.shape), NUM_CLASSES))
        except Exception as e:
            problems.append("pruned model in Python: %s: %s" %
                            (type(e).__name__, first_line(e)))
        if problems:
            raise CheckFailed("; ".join(problems))

    def check_exactness(self, scripted, bn_names, conv_names):
        """Zeroes the even channels of every BatchNorm2d and the even output
        channels of every Conv2d of `scripted` (in place; (a) is done with
        it), saves it as Z, prunes Z to PZ and compares `scripted` (Z) with
        PZ loaded from its file. The convs are zeroed too because a channel
        may also be read where no BatchNorm sits (MaxViT's stem output feeds
        a pooled 1x1 shortcut as well as a BatchNorm): only a channel that is
        zero everywhere may vanish without a trace."""
        torch = self.torch
        self.step("(b) zeroing and saving")
        with torch.no_grad():
            for name in bn_names + conv_names:
                # ScriptModules have no get_submodule.
                m = functools.reduce(getattr, name.split("."), scripted)
                m.weight[0::2] = 0.0
                if m.bias is not None:
                    m.bias[0::2] = 0.0
        zeroed, pruned = self.path("zeroed"), self.path("zeroed_pruned")
        scripted.save(zeroed)
        self.step("(b) prunectl threshold 0 bn_gamma")
        report = self.prunectl.prune(
            zeroed, pruned, self.size,
            ["--policy", "threshold", "--threshold", "0", "--criterion",
             "bn_gamma"])
        before = count_params(scripted)
        self.row["zeroed_params_before"] = before
        reported = as_int(report.get("params_after", 0))
        problems = []
        if reported >= before:
            problems.append("threshold 0 on zeroed BatchNorm channels "
                            "removed nothing (params %d -> %d; %s)" %
                            (before, reported, describe(report)))
        try:
            self.step("(b) loading the pruned file")
            pz = torch.jit.load(pruned).eval()
            after = count_params(pz)
            self.row["zeroed_params_after"] = after
            if reported != after:
                problems.append("report params_after %d != %d counted in "
                                "the pruned file" % (reported, after))
            self.step("(b) comparing outputs")
            x = self.input()
            with torch.no_grad():
                want = logits(scripted(x))
                got = logits(pz(x))
            if tuple(got.shape) != tuple(want.shape):
                raise CheckFailed("pruned output shape %s != %s" %
                                  (tuple(got.shape), tuple(want.shape)))
            scale = want.abs().max().item()
            diff = (want - got).abs().max().item()
            rel = diff / scale if scale > 0 else diff
            self.row["exact_rel_err"] = rel
            if not rel <= EXACT_MAX_REL_ERR:  # Also catches NaN.
                problems.append("max|Z(x) - PZ(x)| / max|Z(x)| = %.3g > %g "
                                "(%s)" % (rel, EXACT_MAX_REL_ERR,
                                          describe(report)))
        except CheckFailed as e:
            problems.append(str(e))
        except Exception as e:
            problems.append("pruned model in Python: %s: %s" %
                            (type(e).__name__, first_line(e)))
        if problems:
            raise CheckFailed("; ".join(problems))


def worker_main(args):
    """Reads model names from stdin, one a line, and writes each row as a
    RESULT_PREFIX line, with STEP_PREFIX lines before each step and the
    row so far (PARTIAL_PREFIX) after each check."""
    torch, _ = import_torch()
    import torchvision.models as models
    torch.set_num_threads(args.threads)
    prunectl = Prunectl(args.prunectl, args.threads, args.prune_timeout)
    limit = float("inf") if args.full else args.part_a_only_above

    def step(text):
        print(STEP_PREFIX + text, flush=True)

    def part_done(row):
        print(PARTIAL_PREFIX + json.dumps(row), flush=True)

    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        row = ModelCase(torch, models, name, prunectl, args.work_dir,
                        args.keep_files, step, part_done).run(limit)
        print(RESULT_PREFIX + json.dumps(row), flush=True)
    return 0


class Worker:
    """One worker process (this script with --worker) and the thread that
    feeds it names from a shared queue. A worker that dies fails the model
    it was on, naming its last step, and is replaced."""

    def __init__(self, command, names, on_row):
        self.command = command
        self.names = names
        self.on_row = on_row
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self):
        self.thread.start()

    def join(self):
        self.thread.join()

    def loop(self):
        proc = None
        while True:
            try:
                name = self.names.get_nowait()
            except queue.Empty:
                break
            if proc is None:
                proc = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
            start = time.monotonic()
            proc.stdin.write(name + "\n")
            proc.stdin.flush()
            row, step = None, "starting"
            partial = {"model": name, "status": "FAIL", "a": "not run",
                       "b": "not run", "errors": [],
                       "input_size": INPUT_SIZE.get(name, DEFAULT_INPUT_SIZE)}
            for line in proc.stdout:
                if line.startswith(STEP_PREFIX):
                    step = line[len(STEP_PREFIX):].strip()
                elif line.startswith(PARTIAL_PREFIX):
                    partial = json.loads(line[len(PARTIAL_PREFIX):])
                elif line.startswith(RESULT_PREFIX):
                    row = json.loads(line[len(RESULT_PREFIX):])
                    break
                else:
                    sys.stderr.write(line)
            if row is None:
                code = proc.wait()
                proc = None
                row = partial
                part = "b" if step.startswith("(b)") else "a"
                row[part] = row["status"] = "FAIL"
                row["seconds"] = round(time.monotonic() - start, 1)
                row["errors"].append("(%s) test process died (exit %s) "
                                     "while: %s" % (part, exit_text(code),
                                                    step))
            self.on_row(row)
        if proc is not None:
            proc.stdin.close()
            proc.wait()


def millions(n):
    return "-" if n is None else "%.2fM" % (n / 1e6)


def print_table(rows):
    header = ("model", "S", "params before -> after (a)",
              "MACs before -> after (a)", "rel err (b)", "(a)", "(b)",
              "status", "s")
    table = [header]
    for r in rows:
        rel = r.get("exact_rel_err")
        table.append((
            r["model"], str(r["input_size"]),
            "%s -> %s" % (millions(r.get("params_before", r.get("params"))),
                          millions(r.get("params_after"))),
            "%s -> %s" % (millions(r.get("macs_before")),
                          millions(r.get("macs_after"))),
            "-" if rel is None else "%.2g" % rel, r["a"], r["b"],
            r["status"], "%.0f" % r.get("seconds", 0)))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    with_errors = [r for r in rows if r["errors"]]
    if with_errors:
        print("\nerrors:")
        for r in with_errors:
            for err in r["errors"]:
                print("  %s %s" % (r["model"], err))


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prunectl", required=True, help="prunectl binary")
    p.add_argument("--models", default=os.environ.get("PRUNESERVE_TV_MODELS"),
                   help="comma-separated builder names (default: all; also "
                        "$PRUNESERVE_TV_MODELS)")
    p.add_argument("--report", help="write the per-model results as JSON")
    p.add_argument("--full", action="store_true",
                   help="run (b) on the largest models too")
    p.add_argument("--part-a-only-above", type=float, default=60e6,
                   help="models with more parameters run (a) only "
                        "(default 60e6)")
    p.add_argument("--jobs", type=int, default=2,
                   help="models tested at once (default 2)")
    p.add_argument("--threads", type=int, default=0,
                   help="LibTorch threads per job, in Python and prunectl "
                        "(default: cores / jobs)")
    p.add_argument("--prune-timeout", type=int, default=900,
                   help="seconds one prunectl run may take (default 900)")
    p.add_argument("--work-dir",
                   help="write and keep the model files here instead of in "
                        "a temp dir that is removed")
    # Set by the coordinator on the worker processes it starts.
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--keep-files", action="store_true",
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error("--jobs must be >= 1")
    if args.threads <= 0:
        args.threads = max(1, (os.cpu_count() or 1) // args.jobs)
    return args


def main(argv):
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    if not os.access(args.prunectl, os.X_OK):
        print("no executable prunectl at %s" % args.prunectl)
        return 2
    args.prunectl = os.path.abspath(args.prunectl)
    torch, torchvision = import_torch()
    import torchvision.models as models

    available = classification_builders(models)
    names = available
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        unknown = [n for n in names if n not in available]
        if unknown:
            print("unknown or excluded models: %s\navailable: %s" %
                  (", ".join(unknown), ", ".join(available)))
            return 2
    print("torch %s, torchvision %s: %d models, %d jobs x %d threads, "
          "prunectl %s" % (torch.__version__, torchvision.__version__,
                           len(names), args.jobs, args.threads,
                           args.prunectl), flush=True)

    work_dir = args.work_dir or tempfile.mkdtemp(
        prefix="torchvision_prune_e2e_")
    os.makedirs(work_dir, exist_ok=True)
    command = [sys.executable, os.path.abspath(__file__), "--worker",
               "--prunectl", args.prunectl, "--work-dir", work_dir,
               "--threads", str(args.threads), "--prune-timeout",
               str(args.prune_timeout), "--part-a-only-above",
               str(args.part_a_only_above)]
    command += ["--full"] if args.full else []
    command += ["--keep-files"] if args.work_dir else []
    pending = queue.Queue()
    for name in names:
        pending.put(name)
    rows, lock = [], threading.Lock()

    def on_row(row):
        with lock:
            rows.append(row)
            print("%-20s %-4s %5.0f s  %s" %
                  (row["model"], row["status"], row["seconds"],
                   "; ".join(row["errors"])), flush=True)

    start = time.monotonic()
    workers = [Worker(command, pending, on_row)
               for _ in range(min(args.jobs, len(names)))]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        if not args.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    wall = time.monotonic() - start
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: order[r["model"]])
    return finish(rows, wall, args.report)


def finish(rows, wall, report_path):
    print()
    print_table(rows)
    failed = [r["model"] for r in rows if r["status"] == "FAIL"]
    passed = sum(r["status"] == "PASS" for r in rows)
    skipped = sum(r["status"] == "SKIP" for r in rows)
    print("\n%d models: %d passed, %d failed, %d skipped; wall time %.0f s" %
          (len(rows), passed, len(failed), skipped, wall))
    if report_path:
        with open(report_path, "w") as f:
            json.dump({"wall_seconds": round(wall, 1), "failed": failed,
                       "models": rows}, f, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
