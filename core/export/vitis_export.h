// The export stage of the pipeline: writes everything the Vitis AI toolchain
// needs to turn a pruned TorchScript model into a DPU xmodel into one
// directory, which the external compile step (external_compiler.h) hands to
// deploy/vitis/compile_xmodel.sh. The directory holds
//
//   model.pt                  the pruned TorchScript module
//   state_dict.pt             its parameters and buffers as a Python dict of
//                             tensors (torch.load() reads it)
//   channel_config.json       layer widths for rebuilding the narrow
//                             nn.Module (channel_config.h)
//   calibration_images.npy    float32 [N, C, H, W], normalised as in training
//   calibration_labels.npy    int64 [N]
//   quantization_report.binpb the serialized pruneserve.v1.QuantizationReport
//                             when one was given (".txtpb" for text format)
//   manifest.json             model name, input/output shapes, and the name,
//                             size and sha256 of every file above
//
// The directory appears whole or not at all: files are written into a
// sibling "<dir>.partial" directory that is renamed at the end.
#ifndef PRUNESERVE_CORE_EXPORT_VITIS_EXPORT_H_
#define PRUNESERVE_CORE_EXPORT_VITIS_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/export/export_options.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace pruneserve {
namespace data {
class BatchSource;
}  // namespace data
namespace util {
class CancellationToken;
}  // namespace util

namespace vitis {

// One file of the export directory.
struct ExportedFile {
  // Name inside the directory.
  std::string name;
  int64_t size_bytes = 0;
  // Lower-case hex.
  std::string sha256;
};

struct VitisExportResult {
  // == options.output_dir.
  std::string dir;
  // Every file except manifest.json, in the order above.
  std::vector<ExportedFile> files;
  // Images actually written (fewer than requested when the source is short).
  int64_t calibration_images = 0;
  // Output shape of the model on the example input.
  std::vector<int64_t> output_shape;
  // Number of layers in channel_config.json.
  int64_t layers = 0;
};

// Writes the export directory for `model`. `calibration` must not be null;
// it is restarted at options.calibration_epoch and read from this thread.
// `cancel` may be null.
//
// Returns INVALID_ARGUMENT for bad options, a model that does not run on
// input_shape, calibration images of another shape or a model without
// conv/BN/linear submodules; ALREADY_EXISTS when output_dir is not empty;
// FAILED_PRECONDITION when the source yields no images; CANCELLED; an
// errno-derived status for I/O failures. On error nothing is left at
// output_dir. Blocks (one forward pass plus reading the calibration data);
// does not modify `model`.
absl::StatusOr<VitisExportResult> ExportForVitis(
    const torch::jit::Module& model, data::BatchSource* calibration,
    const VitisExportOptions& options,
    const util::CancellationToken* cancel = nullptr);

}  // namespace vitis
}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_EXPORT_VITIS_EXPORT_H_
