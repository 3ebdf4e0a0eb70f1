// Evaluation of a TorchScript classifier over a BatchSource: top-1 and top-k
// accuracy and mean cross-entropy. The model runs in eval mode (BatchNorm
// uses its running statistics, dropout is off) without autograd; its previous
// train/eval mode is restored afterwards.
#ifndef PRUNESERVE_CORE_TRAINING_EVALUATOR_H_
#define PRUNESERVE_CORE_TRAINING_EVALUATOR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/util/cancellation_token.h"
#include "core/util/progress.h"

namespace torch {
namespace jit {
struct Module;
}  // namespace jit
}  // namespace torch

namespace pruneserve::training {

struct EvalOptions {
  // k of the second accuracy reported (top-5 by default). When the model has
  // fewer classes than k, every example counts as correct for it.
  int64_t top_k = 5;
  // Epoch number passed to BatchSource::StartEpoch; evaluation sources are
  // usually unshuffled, so this rarely matters.
  int64_t source_epoch = 0;
  // LibTorch intra-op threads of the calling thread (the setting is per
  // thread: core/util/intra_op_threads.h); <= 0 leaves it alone.
  int num_threads = 0;
  // Called after each batch with phase kEvaluate; may be empty.
  ProgressCallback progress;
  // Epoch/num_epochs reported in progress updates (the trainer sets these).
  int64_t report_epoch = 0;
  int64_t report_num_epochs = 1;
  // Polled before each batch; may be null. Not owned.
  const util::CancellationToken* cancel = nullptr;
};

// Numbers from one pass over an evaluation source.
struct EvalResult {
  int64_t num_examples = 0;
  // Fractions in [0, 1].
  double top1_accuracy = 0.0;
  double topk_accuracy = 0.0;
  // The k used for topk_accuracy.
  int64_t top_k = 5;
  // Mean (unsmoothed) cross-entropy per example.
  double mean_loss = 0.0;
  double seconds = 0.0;
  double images_per_second = 0.0;
};

// Runs `model` over one epoch of `source`. Blocks until done. Returns
// CANCELLED when `options.cancel` fires (checked before every batch),
// INVALID_ARGUMENT for bad batches or outputs, FAILED_PRECONDITION for an
// empty source, and the source's own error when Next() fails. `model` and
// `source` are used from the calling thread only; not owned.
absl::StatusOr<EvalResult> Evaluate(torch::jit::Module& model,
                                    data::BatchSource& source,
                                    const EvalOptions& options = {});

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_EVALUATOR_H_
