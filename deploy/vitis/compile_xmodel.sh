#!/usr/bin/env bash
# Turns a PruneServe export directory into a DPU xmodel: quantize with
# vai_q_pytorch (quantize_and_export.py), then compile with vai_c_xir.
# PruneServe's external compile step runs this inside its sandbox directory;
# it can also be run by hand inside the Vitis AI docker image.
#
#   compile_xmodel.sh --export-dir DIR --output-dir OUT --name NAME \
#       [--factory package.module:function] [--pythonpath DIR] \
#       [--arch /opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json]
#
# --factory names the Python function that builds the dense model; without it
# the manifest's "python_factory" is used.
#
# OUT receives vai_c_xir's output (NAME.xmodel, meta.json, md5sum.txt); the
# quantizer's intermediate files stay in ./quantize of the working directory.
# Exit status 127 means a Vitis AI tool is missing, 2 a usage error.
set -euo pipefail

export_dir="" output_dir="" name="" factory="" pythonpath=""
arch="/opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json"
python="${PYTHON:-python3}"

usage() {
  sed -n '6,12p' "$0" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --export-dir) export_dir="$2"; shift 2 ;;
    --output-dir) output_dir="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --factory) factory="$2"; shift 2 ;;
    --pythonpath) pythonpath="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ -n "$export_dir" && -n "$output_dir" && -n "$name" ]] || usage
[[ -f "$export_dir/manifest.json" ]] || {
  echo "no manifest.json in $export_dir; is it a PruneServe export?" >&2
  exit 2
}
[[ -f "$arch" ]] || {
  echo "DPU arch file $arch not found; pass --arch (inside the Vitis AI image" \
       "they live under /opt/vitis_ai/compiler/arch/)" >&2
  exit 2
}
if [[ -n "$pythonpath" ]]; then
  export PYTHONPATH="$pythonpath${PYTHONPATH:+:$PYTHONPATH}"
fi
command -v vai_c_xir >/dev/null || {
  echo "vai_c_xir not found: run inside the Vitis AI docker image" \
       "(conda activate vitis-ai-pytorch)" >&2
  exit 127
}
"$python" -c 'import pytorch_nndct' 2>/dev/null || {
  echo "vai_q_pytorch (pytorch_nndct) is not importable by $python:" \
       "conda activate vitis-ai-pytorch" >&2
  exit 127
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(pwd)/quantize"
mkdir -p "$work" "$output_dir"

factory_args=()
if [[ -n "$factory" ]]; then
  factory_args=(--arch "$factory")
fi
echo "== quantize"
"$python" "$here/quantize_and_export.py" --export-dir "$export_dir" \
  --output-dir "$work" --work-dir "$work" --name "$name" "${factory_args[@]}"

echo "== compile for $(basename "$(dirname "$arch")")"
vai_c_xir -x "$work/${name}_int.xmodel" -a "$arch" -o "$output_dir" -n "$name"
ls -l "$output_dir"
