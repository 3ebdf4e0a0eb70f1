// Progress of long-running work (a training run, a pruning pipeline, a whole
// job) as one plain value, and the callback through which it is reported.
// The trainer and evaluator fill the per-step fields, the pipeline adds the
// round, and the spec runner adds the model size, the latest accuracy and
// the whole-job completion; each layer passes the same struct upward, so no
// layer copies progress field by field. The job service turns it into the
// wire's pruneserve.v1.JobProgress in one place.
#ifndef PRUNESERVE_CORE_UTIL_PROGRESS_H_
#define PRUNESERVE_CORE_UTIL_PROGRESS_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve {

// What the work is doing. The order is the order of a job's life; the
// numbering is not the wire's (see pruneserve.v1.JobPhase).
enum class Phase {
  kQueued,    // waiting for a worker
  kStart,     // a worker is loading the model and data
  kPrune,     // sparsity probe, channel selection and surgery
  kFinetune,  // optimizer steps on the training data
  kEvaluate,  // forward passes over evaluation data
  kQuantize,  // DPU-style INT8 simulation
  kRegister,  // storing the result
  kExport,    // writing the Vitis AI export directory
  kCompile,   // running the external compiler
  kDone,      // finished, whatever the outcome
};

// The name users see: "queued", "start", "prune", "finetune", "evaluate",
// "quantize", "register", "export", "compile", "done".
const char* PhaseName(Phase phase);

// The inverse of PhaseName; INVALID_ARGUMENT for any other string.
absl::StatusOr<Phase> ParsePhase(absl::string_view name);

// A snapshot of where the work is. Plain value; copy freely. Fields a layer
// does not know stay at their defaults.
struct Progress {
  Phase phase = Phase::kPrune;
  // 0-based pruning round of num_rounds; round -1 is the baseline
  // evaluation before the first round. 0 outside a pipeline.
  int round = 0;
  int num_rounds = 0;
  // 0-based fine-tuning epoch of num_epochs (for an evaluation inside a
  // training run: the epoch just trained; 0 outside fine-tuning).
  int64_t epoch = 0;
  int64_t num_epochs = 0;
  // 1-based step inside the current pass, and steps per pass (estimated
  // from the source size and the first batch).
  int64_t step = 0;
  int64_t steps_per_epoch = 0;
  // Running mean loss and top-1 accuracy in [0, 1] of the current pass.
  double loss = 0.0;
  double accuracy = 0.0;
  // Throughput of the current pass so far.
  double images_per_second = 0.0;
  // Estimated seconds until the current phase ends; 0 when unknown.
  double eta_seconds = 0.0;
  // Learning rate of the latest optimizer step (0 outside fine-tuning).
  double learning_rate = 0.0;
  // Size of the model after the latest pruning round (0 before it).
  int64_t params = 0;
  int64_t flops = 0;
  // Whole-job completion estimate in [0, 1] (0 when not estimated).
  double fraction_done = 0.0;
  // Latest evaluated top-1 accuracy; -1 before any evaluation.
  double last_top1_accuracy = -1.0;
};

// Called on the working thread after every step or stage boundary; must be
// quick and must not call back into the reporter. It may cancel the work's
// CancellationToken.
using ProgressCallback = std::function<void(const Progress&)>;

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_PROGRESS_H_
