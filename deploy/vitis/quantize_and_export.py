#!/usr/bin/env python3
"""Quantizes a PruneServe export directory with vai_q_pytorch.

PruneServe prunes TorchScript archives, but the Vitis AI quantizer needs an
ordinary nn.Module with a Python forward(). This script therefore

  1. builds the *dense* architecture from a Python factory named by --arch
     or, without it, by the manifest's "python_factory"
     (``package.module:function``; it is called with no arguments),
  2. narrows every conv / BatchNorm / linear layer listed in the export's
     channel_config.json to its pruned width, keeping the dense layer's other
     hyper-parameters (stride, padding, eps, ...),
  3. loads state_dict.pt strictly, and checks the rebuilt module against the
     exported TorchScript model.pt on calibration images,
  4. runs vai_q_pytorch: "calib" over calibration_images.npy, then "test" on
     one image and export_xmodel(), and copies the quantized xmodel to
     <output-dir>/<name>_int.xmodel.

Steps 1-3 need only PyTorch and NumPy (``--rebuild-only`` stops there), so
they can be checked outside the Vitis AI docker image. A forward() that
hard-codes channel counts (e.g. ``x.view(-1, 512)``) cannot be narrowed this
way; write it in terms of the input shape (``torch.flatten(x, 1)``).
"""

import argparse
import glob
import hashlib
import importlib
import json
import os
import shutil
import sys

import numpy as np
import torch
from torch import nn

CHANNEL_CONFIG_FORMAT = "pruneserve.channel_config.v1"
EXPORT_FORMAT = "pruneserve.vitis_export.v1"


class ExportError(Exception):
    """The export directory or the architecture does not fit together."""


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(export_dir, verify=True):
    """Reads manifest.json and, with verify, checks every file's sha256."""
    with open(os.path.join(export_dir, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest.get("format") != EXPORT_FORMAT:
        raise ExportError("manifest format is %r, expected %r" %
                          (manifest.get("format"), EXPORT_FORMAT))
    if verify:
        for entry in manifest["files"]:
            path = os.path.join(export_dir, entry["name"])
            if _sha256(path) != entry["sha256"]:
                raise ExportError("%s does not match its sha256 in the manifest"
                                  % path)
    return manifest


def load_channel_config(export_dir):
    with open(os.path.join(export_dir, "channel_config.json")) as f:
        config = json.load(f)
    if config.get("format") != CHANNEL_CONFIG_FORMAT:
        raise ExportError("channel_config format is %r, expected %r" %
                          (config.get("format"), CHANNEL_CONFIG_FORMAT))
    return config


def _as_tuple(value, dims):
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return (value,) * dims
    return tuple(value)


def _narrow_conv(old, layer):
    if not isinstance(old, nn.modules.conv._ConvNd):
        raise ExportError("%s is a conv in the export but %s in the architecture"
                          % (layer["path"], type(old).__name__))
    dims = len(old.kernel_size)
    if tuple(layer["kernel_size"]) != tuple(old.kernel_size):
        raise ExportError("%s: kernel %s in the export, %s in the architecture"
                          % (layer["path"], layer["kernel_size"],
                             list(old.kernel_size)))
    for key in ("stride", "padding", "dilation"):
        if key in layer and _as_tuple(layer[key], dims) != _as_tuple(
                getattr(old, key), dims):
            raise ExportError("%s: %s %s in the export, %s in the architecture"
                              % (layer["path"], key, layer[key],
                                 getattr(old, key)))
    kwargs = dict(in_channels=layer["in_channels"],
                  out_channels=layer["out_channels"],
                  kernel_size=old.kernel_size, stride=old.stride,
                  padding=old.padding, dilation=old.dilation,
                  groups=layer["groups"], bias=layer["bias"],
                  padding_mode=old.padding_mode)
    if old.transposed:
        kwargs["output_padding"] = old.output_padding
    return type(old)(**kwargs)


def _narrow_batchnorm(old, layer):
    if not isinstance(old, nn.modules.batchnorm._BatchNorm):
        raise ExportError("%s is a BatchNorm in the export but %s in the "
                          "architecture" % (layer["path"], type(old).__name__))
    return type(old)(layer["num_features"], eps=old.eps, momentum=old.momentum,
                     affine=old.affine,
                     track_running_stats=old.track_running_stats)


def _narrow_linear(old, layer):
    if not isinstance(old, nn.Linear):
        raise ExportError("%s is a linear layer in the export but %s in the "
                          "architecture" % (layer["path"], type(old).__name__))
    return nn.Linear(layer["in_features"], layer["out_features"],
                     bias=layer["bias"])


_NARROWERS = {
    "conv": _narrow_conv,
    "batchnorm": _narrow_batchnorm,
    "linear": _narrow_linear,
}


def narrow_model(model, config):
    """Replaces every layer listed in `config` by one of its pruned width."""
    for layer in config["layers"]:
        path = layer["path"]
        if not path:
            raise ExportError("the root module itself is a layer; wrap it")
        parent_path, _, leaf = path.rpartition(".")
        try:
            parent = model.get_submodule(parent_path) if parent_path else model
            old = getattr(parent, leaf)
        except AttributeError:
            raise ExportError("the architecture has no module %r" % path)
        narrow = _NARROWERS.get(layer["kind"])
        if narrow is None:
            raise ExportError("%s: unknown layer kind %r" % (path, layer["kind"]))
        setattr(parent, leaf, narrow(old, layer))
    return model


def load_state_dict(export_dir):
    return torch.load(os.path.join(export_dir, "state_dict.pt"),
                      map_location="cpu")


def resolve_factory(spec):
    """'pkg.module:function' -> the function."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ExportError("--arch must look like package.module:function, got %r"
                          % spec)
    return getattr(importlib.import_module(module_name), attr)


def rebuild_model(export_dir, factory):
    """The pruned model as an nn.Module in eval mode, weights loaded."""
    model = factory()
    narrow_model(model, load_channel_config(export_dir))
    state = load_state_dict(export_dir)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ExportError("state_dict does not fit the rebuilt model: missing %s,"
                          " unexpected %s" % (sorted(missing), sorted(unexpected)))
    return model.eval()


def load_calibration(export_dir, manifest):
    calib = manifest["calibration"]
    images = np.load(os.path.join(export_dir, calib["images_file"]))
    labels = np.load(os.path.join(export_dir, calib["labels_file"]))
    return torch.from_numpy(images), torch.from_numpy(labels)


def compare_with_torchscript(model, export_dir, images, atol=1e-4):
    """Max |rebuilt - model.pt| over `images`; raises above atol (relative to
    the output scale)."""
    scripted = torch.jit.load(os.path.join(export_dir, "model.pt"),
                              map_location="cpu").eval()
    with torch.no_grad():
        want = scripted(images)
        got = model(images)
    diff = (want - got).abs().max().item()
    scale = max(1.0, want.abs().max().item())
    if diff > atol * scale:
        raise ExportError("rebuilt model differs from model.pt by %g" % diff)
    return diff


def quantize(model, images, input_shape, work_dir, output_dir, name,
             batch_size, device):
    """vai_q_pytorch calib then test + export_xmodel. Returns the xmodel path."""
    from pytorch_nndct.apis import torch_quantizer  # Vitis AI docker only

    quant_dir = os.path.join(work_dir, "quantize_result")
    dummy = torch.randn([1] + list(input_shape[1:]))
    calib = torch_quantizer("calib", model, (dummy,), output_dir=quant_dir,
                            device=device)
    qmodel = calib.quant_model
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            qmodel(images[start:start + batch_size].to(device))
    calib.export_quant_config()

    # export_xmodel needs a batch of 1 in test mode.
    test = torch_quantizer("test", model, (dummy,), output_dir=quant_dir,
                           device=device)
    with torch.no_grad():
        test.quant_model(images[:1].to(device))
    test.export_xmodel(output_dir=quant_dir, deploy_check=False)
    produced = sorted(glob.glob(os.path.join(quant_dir, "*_int.xmodel")))
    if len(produced) != 1:
        raise ExportError("expected one *_int.xmodel in %s, found %s"
                          % (quant_dir, produced))
    target = os.path.join(output_dir, name + "_int.xmodel")
    shutil.copyfile(produced[0], target)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", required=True)
    parser.add_argument("--output-dir", required=True,
                        help="where <name>_int.xmodel is written")
    parser.add_argument("--arch", default=None,
                        help="package.module:function building the dense "
                        "model (default: the manifest's python_factory)")
    parser.add_argument("--name", default=None,
                        help="defaults to the manifest's model_name")
    parser.add_argument("--work-dir", default=".",
                        help="quantizer scratch directory")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rebuild-only", action="store_true",
                        help="rebuild and compare with model.pt, then stop")
    args = parser.parse_args(argv)

    try:
        manifest = load_manifest(args.export_dir)
        factory = args.arch or manifest.get("python_factory")
        if not factory:
            raise ExportError("no --arch given and the manifest names no "
                              "python_factory")
        model = rebuild_model(args.export_dir, resolve_factory(factory))
        images, _ = load_calibration(args.export_dir, manifest)
        diff = compare_with_torchscript(model, args.export_dir,
                                        images[:args.batch_size])
        print("rebuilt model matches model.pt (max abs diff %.3g)" % diff)
        if args.rebuild_only:
            return 0
        os.makedirs(args.output_dir, exist_ok=True)
        path = quantize(model, images, manifest["input_shape"], args.work_dir,
                        args.output_dir, args.name or manifest["model_name"],
                        args.batch_size, torch.device(args.device))
        print("quantized xmodel: %s" % path)
    except ExportError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
