// One evaluation pass; see evaluator.h.
#include "core/training/evaluator.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/training/batch_forward.h"
#include "core/training/losses.h"
#include "core/util/intra_op_threads.h"
#include "core/util/torch_status.h"

namespace pruneserve::training {
namespace {

// Puts a module in eval mode and restores its previous mode on scope exit.
class EvalModeScope {
 public:
  explicit EvalModeScope(torch::jit::Module& model)
      : model_(model), was_training_(model.is_training()) {
    model_.eval();
  }
  ~EvalModeScope() { model_.train(was_training_); }

 private:
  torch::jit::Module& model_;
  const bool was_training_;
};

}  // namespace

absl::StatusOr<EvalResult> Evaluate(torch::jit::Module& model,
                                    data::BatchSource& source,
                                    const EvalOptions& options) {
  if (options.top_k < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be >= 1, got ", options.top_k));
  }
  const int64_t num_classes = source.num_classes();
  const int64_t num_examples = source.num_examples();
  if (num_classes < 1 || num_examples < 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("evaluation source is empty (", num_examples,
                     " examples, ", num_classes, " classes)"));
  }
  SetIntraOpThreadsOfCallingThread(options.num_threads);
  const int64_t k = std::min(options.top_k, num_classes);

  EvalModeScope eval_mode(model);
  torch::NoGradGuard no_grad;
  source.StartEpoch(options.source_epoch);

  const auto start = std::chrono::steady_clock::now();
  int64_t seen = 0, top1 = 0, topk = 0, step = 0, steps_per_epoch = 0;
  double loss_sum = 0.0;
  while (true) {
    if (options.cancel != nullptr && options.cancel->IsCancelled()) {
      return absl::CancelledError("evaluation cancelled");
    }
    absl::StatusOr<std::optional<data::Batch>> next = source.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) break;
    const data::Batch& batch = **next;
    absl::Status valid = ValidateBatch(batch, num_classes);
    if (!valid.ok()) return valid;
    absl::StatusOr<torch::Tensor> logits =
        ForwardLogits(model, batch.images, num_classes);
    if (!logits.ok()) return logits.status();
    absl::StatusOr<torch::Tensor> loss =
        CrossEntropyLoss(*logits, batch.labels);
    if (!loss.ok()) return loss.status();
    const int64_t n = batch.labels.size(0);
    try {
      torch::Tensor top = std::get<1>(logits->topk(k, /*dim=*/1));
      torch::Tensor hits = top.eq(batch.labels.unsqueeze(1));
      top1 += hits.select(1, 0).sum().item<int64_t>();
      topk += hits.any(/*dim=*/1).sum().item<int64_t>();
      loss_sum += loss->item<double>() * static_cast<double>(n);
    } catch (const std::exception& e) {
      return TorchErrorToStatus(
          e, absl::StrCat("top-", k, " of logits ", ShapeString(*logits)));
    }
    seen += n;
    ++step;
    if (steps_per_epoch == 0) steps_per_epoch = (num_examples + n - 1) / n;
    if (options.progress) {
      const double elapsed = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      Progress p;
      p.phase = Phase::kEvaluate;
      p.epoch = options.report_epoch;
      p.num_epochs = options.report_num_epochs;
      p.step = step;
      p.steps_per_epoch = steps_per_epoch;
      p.loss = loss_sum / static_cast<double>(seen);
      p.accuracy =
          static_cast<double>(top1) / static_cast<double>(seen);
      p.images_per_second = elapsed > 0 ? seen / elapsed : 0.0;
      p.eta_seconds =
          elapsed / step *
          static_cast<double>(std::max<int64_t>(steps_per_epoch - step, 0));
      options.progress(p);
    }
  }
  if (seen == 0) {
    return absl::FailedPreconditionError(
        "evaluation source yielded no batches");
  }
  EvalResult result;
  result.num_examples = seen;
  result.top1_accuracy = static_cast<double>(top1) / static_cast<double>(seen);
  result.topk_accuracy = static_cast<double>(topk) / static_cast<double>(seen);
  result.top_k = options.top_k;
  result.mean_loss = loss_sum / static_cast<double>(seen);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  result.images_per_second =
      result.seconds > 0 ? static_cast<double>(seen) / result.seconds : 0.0;
  return result;
}

}  // namespace pruneserve::training
