// The pruning facade used by prunectl and the job service: analyse channel
// dependencies, optionally measure activation sparsity on calibration data,
// score channels with a criterion, choose per-group keep masks with a ratio
// policy, physically remove channels, verify and account for the result.
// The options, and NeedsCalibration() saying when `calibration` is required,
// come from pruning_options.h (no LibTorch), which this header exports.
//
//   PruningOptions opts;                       // refined + bn_gamma
//   auto r = PruneModule(model, {1, 3, 32, 32}, opts, &calibration);
//   if (r.ok()) r->module.save("pruned.pt");
#ifndef PRUNESERVE_CORE_PRUNING_PRUNING_ENGINE_H_
#define PRUNESERVE_CORE_PRUNING_PRUNING_ENGINE_H_

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/pruning/layer_sparsity_probe.h"
#include "core/pruning/pruning_options.h"
#include "core/pruning/ratio_policy.h"
#include "pruneserve/v1/pruning.pb.h"

namespace pruneserve::pruning {

struct PruningResult {
  // The pruned copy; an ordinary TorchScript module (save, load, train).
  torch::jit::Module module;
  v1::PruningReport report;
};

// Prunes a deep copy of `module` (the caller's module and its tensors are not
// modified). `input_shape` is the example input, e.g. {1, 3, 32, 32}; it
// fixes the spatial sizes used for flatten coupling and FLOPs. `calibration`
// may be null unless NeedsCalibration(options.policy.kind,
// options.criterion). Returns InvalidArgument for bad options or a model that
// rejects the input shape, FailedPrecondition when calibration data is required
// but missing, OutOfRange when target_flops cannot be met, Internal when the
// pruned model fails verification. Blocks; CPU-bound. Safe to call
// concurrently on different modules.
absl::StatusOr<PruningResult> PruneModule(
    const torch::jit::Module& module, const std::vector<int64_t>& input_shape,
    const PruningOptions& options, data::BatchSource* calibration = nullptr);

// Prunes `module` itself, as PruneModule does, and returns the report: for
// a caller that owns the module and does not need the dense model again
// (it saves the copy). On failure the module may be partly pruned and must
// be discarded. Same errors as PruneModule. Blocks; CPU-bound.
absl::StatusOr<v1::PruningReport> PruneModuleInPlace(
    torch::jit::Module& module, const std::vector<int64_t>& input_shape,
    const PruningOptions& options, data::BatchSource* calibration = nullptr);

// Loads the TorchScript archive at `input_path`, prunes it as PruneModule
// does and saves the result to `output_path`. Returns NotFound /
// InvalidArgument when the input cannot be loaded, Internal when the output
// cannot be written, or PruneModule's errors. Blocks on file I/O.
absl::StatusOr<v1::PruningReport> PruneTorchScriptFile(
    const std::string& input_path, const std::string& output_path,
    const std::vector<int64_t>& input_shape, const PruningOptions& options,
    data::BatchSource* calibration = nullptr);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_PRUNING_ENGINE_H_
