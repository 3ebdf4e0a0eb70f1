// The paper's iterative loop as one object: for each round, measure layer
// sparsity and prune (the pruning engine), evaluate the pruned model, fine-
// tune it (the trainer, with the paper's SGD + cosine warm restarts schedule
// by default) and evaluate again. Rounds stop early when a parameter or FLOPs
// reduction target is met or when the top-1 drop against the dense baseline
// exceeds a limit. Everything the run measured ends up in a
// pruneserve.v1.PipelineReport; progress is reported per step and a
// CancellationToken is honoured at every step, so a job service can drive a
// run from a worker thread.
//
//   PipelineOptions opts;                  // refined, 1 round, 50 epochs
//   opts.input_shape = {1, 1, 28, 28};
//   opts.finetune.epochs = 10;
//   PS_ASSIGN_OR_RETURN(auto pipeline, PruningPipeline::Create(opts));
//   PS_ASSIGN_OR_RETURN(PipelineResult r,
//                       pipeline->Run(model, {&train, &test, &calib}, &token));
//   r.module.save("pruned.pt");
#ifndef PRUNESERVE_CORE_PIPELINE_PRUNING_PIPELINE_H_
#define PRUNESERVE_CORE_PIPELINE_PRUNING_PIPELINE_H_

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/pipeline/pipeline_options.h"
#include "core/pruning/pruning_engine.h"
#include "core/util/cancellation_token.h"
#include "core/training/trainer.h"
#include "pruneserve/v1/pipeline.pb.h"

namespace pruneserve::pipeline {

// The data a run reads. Not owned; each must outlive Run().
struct PipelineData {
  // Fine-tuning data; required when finetune.epochs > 0.
  data::BatchSource* train = nullptr;
  // Evaluation data (usually the test split, unshuffled); null skips every
  // evaluation (accuracies are then reported as -1).
  data::BatchSource* eval = nullptr;
  // Calibration data for the sparsity probe; null falls back to `train`.
  // Required (directly or through `train`) by the refined and target_flops
  // policies and the apoz criterion.
  data::BatchSource* calibration = nullptr;
};

struct PipelineResult {
  // The pruned and fine-tuned model, in eval mode.
  torch::jit::Module module;
  v1::PipelineReport report;
};

// Runs prune -> fine-tune rounds. Holds only its options; every Run() works
// on its own deep copies of the model. Not thread-safe for concurrent Run()
// calls on one object (the trainer sets LibTorch's process-wide thread count
// when asked to); use one pipeline per job. Only the CancellationToken may be
// touched from other threads during Run().
class PruningPipeline {
 public:
  // Validates the options. Returns INVALID_ARGUMENT for a missing or
  // malformed input shape, rounds < 1, reduction targets outside [0, 1),
  // negative epochs or calibration size. Never blocks.
  static absl::StatusOr<std::unique_ptr<PruningPipeline>> Create(
      PipelineOptions options);

  // Evaluates the baseline, then runs the rounds on a copy of `model` (the
  // caller's module is not modified). Blocks until done; CPU-bound.
  // Returns CANCELLED within one step of `cancel` firing (also checked
  // between phases), FAILED_PRECONDITION when training data is missing but
  // fine-tuning is on or calibration data is missing but required, and the
  // pruning engine's, trainer's or evaluator's errors.
  absl::StatusOr<PipelineResult> Run(
      const torch::jit::Module& model, const PipelineData& data,
      const util::CancellationToken* cancel = nullptr) const;

  const PipelineOptions& options() const { return options_; }

 private:
  explicit PruningPipeline(PipelineOptions options);

  // Size and (when eval data is given) accuracy of `module`.
  absl::StatusOr<v1::ModelSnapshot> Measure(
      torch::jit::Module& module, data::BatchSource* eval, int round,
      const util::CancellationToken* cancel) const;

  // Fine-tunes `module` in place for one round; returns the trainer's result.
  absl::StatusOr<training::TrainResult> Finetune(
      torch::jit::Module& module, data::BatchSource& train, int round,
      const util::CancellationToken* cancel) const;

  void Report(const Progress& progress) const;

  const PipelineOptions options_;
};

}  // namespace pruneserve::pipeline

#endif  // PRUNESERVE_CORE_PIPELINE_PRUNING_PIPELINE_H_
