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
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/pruning/pruning_engine.h"
#include "core/util/cancellation_token.h"
#include "core/training/trainer.h"
#include "pruneserve/v1/pipeline.pb.h"

namespace pruneserve::pipeline {

enum class PipelinePhase {
  kPrune,     // sparsity probe, channel selection and surgery
  kFinetune,  // optimizer steps on the training data
  kEvaluate,  // forward passes over the evaluation data
};

// Returns "prune", "finetune" or "evaluate".
const char* PipelinePhaseName(PipelinePhase phase);

// A snapshot of where a run is. Plain value; copy freely.
struct PipelineProgress {
  PipelinePhase phase = PipelinePhase::kPrune;
  // 0-based round, and the number of rounds requested. Round -1 is the
  // baseline evaluation before the first round.
  int round = 0;
  int num_rounds = 0;
  // 0-based fine-tuning epoch and epochs per round (0 outside fine-tuning).
  int64_t epoch = 0;
  int64_t num_epochs = 0;
  // 1-based step inside the epoch or evaluation pass, and steps per pass.
  int64_t step = 0;
  int64_t steps_per_epoch = 0;
  // Running mean loss and top-1 accuracy in [0, 1] of the current pass.
  double loss = 0.0;
  double accuracy = 0.0;
  double images_per_second = 0.0;
  // Estimated seconds until the current phase of this round ends; 0 when
  // unknown.
  double eta_seconds = 0.0;
};

// Called on the thread running Run(); must be quick and must not call back
// into the pipeline. It may cancel the run's token.
using PipelineProgressCallback = std::function<void(const PipelineProgress&)>;

struct PipelineOptions {
  // Example input NCHW, e.g. {1, 1, 28, 28}; fixes FLOPs accounting and the
  // spatial sizes the engine analyses. Required.
  std::vector<int64_t> input_shape;
  // Criterion, ratio policy and guards of every round (default: the paper's
  // refined policy with the BN |gamma| criterion).
  pruning::PruningOptions pruning;
  // Fine-tuning after every round. The defaults are the paper's (SGD lr
  // 0.01, momentum 0.9, Nesterov, weight decay 1e-4, cosine warm restarts
  // with T_0 = epochs and eta_min 1e-5). epochs = 0 skips fine-tuning. When
  // checkpoint_dir is set, round r checkpoints into checkpoint_dir/round_r.
  // The trainer's own progress callback is replaced by the pipeline's.
  training::TrainerOptions finetune;
  // Prune -> fine-tune rounds at most; sparsity is re-measured every round.
  int rounds = 1;
  // Stop after the round at which 1 - params / baseline params reaches this
  // fraction; 0 disables the check.
  double target_params_reduction = 0.0;
  // Stop after the round at which 1 - FLOPs / baseline FLOPs reaches this
  // fraction; 0 disables the check.
  double target_flops_reduction = 0.0;
  // Stop after the round whose fine-tuned top-1 accuracy is more than this
  // many points (a fraction, 0.02 = 2 %) below the baseline's; < 0 disables
  // the check. Needs evaluation data. The returned model is that round's.
  double max_top1_drop = -1.0;
  // Calibration examples the sparsity probe reads each round (overrides
  // pruning.probe.max_examples).
  int64_t calibration_examples = 256;
  // k of the second accuracy recorded (top-5).
  int64_t eval_top_k = 5;
  // Per-step progress of every phase; may be empty.
  PipelineProgressCallback progress;
  // Called after every measurement of the model (the baseline as round -1,
  // then after pruning and after fine-tuning in each round) with its size
  // and accuracy, on the thread running Run(); may be empty. Lets a job
  // service show params, FLOPs and accuracy so far.
  std::function<void(int round, const v1::ModelSnapshot&)> snapshot;
};

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

  void Report(const PipelineProgress& progress) const;

  const PipelineOptions options_;
};

}  // namespace pruneserve::pipeline

#endif  // PRUNESERVE_CORE_PIPELINE_PRUNING_PIPELINE_H_
