// What a PruningPipeline run is asked to do (core/pipeline/
// pruning_pipeline.h), apart from the pipeline so that code which only fills
// or documents the options (job specs, command-line help) needs no LibTorch.
// The initialisers are the pipeline's defaults and the only place they are
// written down.
#ifndef PRUNESERVE_CORE_PIPELINE_PIPELINE_OPTIONS_H_
#define PRUNESERVE_CORE_PIPELINE_PIPELINE_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "core/pruning/pruning_options.h"
#include "core/training/trainer_options.h"
#include "core/util/progress.h"
#include "pruneserve/v1/pipeline.pb.h"

namespace pruneserve::pipeline {

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
  // A progressive schedule, for the policies that take a target
  // (pruning::PolicyHasTarget): the target is split evenly over the rounds,
  // round r (0-based) of R bringing the model to (r + 1) / R of it,
  // counted against the baseline. Off: every round removes the target
  // fraction of what the previous round left.
  bool split_target = false;
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
  // Per-step progress of the prune, fine-tune and evaluate phases, with the
  // round set; called on the thread running Run(), must be quick and must
  // not call back into the pipeline (it may cancel the run's token). May be
  // empty.
  ProgressCallback progress;
  // Called after every measurement of the model (the baseline as round -1,
  // then after pruning and after fine-tuning in each round) with its size
  // and accuracy, on the thread running Run(); may be empty. Lets a job
  // service show params, FLOPs and accuracy so far.
  std::function<void(int round, const v1::ModelSnapshot&)> snapshot;
};

}  // namespace pruneserve::pipeline

#endif  // PRUNESERVE_CORE_PIPELINE_PIPELINE_OPTIONS_H_
