// The fine-tuning loop; see trainer.h.
#include "core/training/trainer.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/training/batch_forward.h"
#include "core/training/losses.h"
#include "core/util/intra_op_threads.h"
#include "core/util/torch_status.h"

namespace pruneserve::training {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// splitmix64 of (seed, epoch): well-mixed generator seeds that differ per
// epoch and per run.
uint64_t EpochSeed(uint64_t seed, int64_t epoch) {
  uint64_t z =
      seed + 0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(epoch) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// optimizer.zero_grad() with PyTorch 2's set_to_none semantics (LibTorch
// 1.13 only zeroes): backward then hands each parameter its freshly computed
// gradient instead of adding it into a zeroed buffer, which saves a memset
// and an add per parameter and step. Parameters that get no gradient are
// skipped by SGD's step, as in PyTorch.
void ClearGradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
  }
}

absl::Status ValidateOptions(const TrainerOptions& o) {
  if (o.epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("epochs must be >= 1, got ", o.epochs));
  }
  const SgdOptions& s = o.sgd;
  if (!(s.learning_rate >= 0) || !(s.momentum >= 0) || !(s.weight_decay >= 0) ||
      !(s.dampening >= 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SGD needs lr, momentum, weight_decay, dampening >= 0; got %g, %g, "
        "%g, %g",
        s.learning_rate, s.momentum, s.weight_decay, s.dampening));
  }
  if (s.nesterov && (s.momentum <= 0 || s.dampening != 0)) {
    return absl::InvalidArgumentError(
        "Nesterov momentum needs momentum > 0 and dampening == 0");
  }
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "label_smoothing must be in [0, 1), got %g", o.label_smoothing));
  }
  const DistillationOptions& d = o.distillation;
  if (d.teacher != nullptr &&
      (!(d.alpha >= 0 && d.alpha <= 1) || !(d.temperature > 0))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "distillation needs alpha in [0, 1] and temperature > 0; got %g, %g",
        d.alpha, d.temperature));
  }
  if (o.eval_top_k < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval_top_k must be >= 1, got ", o.eval_top_k));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    torch::jit::Module* model, TrainerOptions options) {
  if (model == nullptr) return absl::InvalidArgumentError("model is null");
  absl::Status valid = ValidateOptions(options);
  if (!valid.ok()) return valid;

  std::unique_ptr<torch::optim::SGD> optimizer;
  try {
    std::vector<torch::Tensor> params;
    for (const torch::Tensor& p : model->parameters(/*recurse=*/true)) {
      // Archives built in C++ often register parameters without grad; a
      // fine-tuning run trains all of them.
      p.requires_grad_(true);
      params.push_back(p);
    }
    if (params.empty()) {
      return absl::InvalidArgumentError("model has no parameters to train");
    }
    optimizer = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(options.sgd.learning_rate)
                    .momentum(options.sgd.momentum)
                    .nesterov(options.sgd.nesterov)
                    .weight_decay(options.sgd.weight_decay)
                    .dampening(options.sgd.dampening));
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "build SGD optimizer");
  }

  absl::StatusOr<std::unique_ptr<LrSchedule>> schedule = MakeLrSchedule(
      options.schedule, options.sgd.learning_rate, options.epochs);
  if (!schedule.ok()) return schedule.status();

  std::unique_ptr<CheckpointStore> store;
  if (!options.checkpoint_dir.empty()) {
    CheckpointStoreOptions store_options;
    store_options.directory = options.checkpoint_dir;
    store_options.prefix = options.checkpoint_prefix;
    store_options.keep_last = options.keep_checkpoints;
    absl::StatusOr<std::unique_ptr<CheckpointStore>> created =
        CheckpointStore::Create(std::move(store_options));
    if (!created.ok()) return created.status();
    store = *std::move(created);
  }
  return std::unique_ptr<Trainer>(
      new Trainer(model, std::move(options), std::move(optimizer),
                  *std::move(schedule), std::move(store)));
}

Trainer::Trainer(torch::jit::Module* model, TrainerOptions options,
                 std::unique_ptr<torch::optim::SGD> optimizer,
                 std::unique_ptr<LrSchedule> schedule,
                 std::unique_ptr<CheckpointStore> store)
    : model_(model),
      options_(std::move(options)),
      optimizer_(std::move(optimizer)),
      schedule_(std::move(schedule)),
      store_(std::move(store)) {
  position_.seed = options_.seed;
  position_.schedule = schedule_->Describe();
}

Trainer::~Trainer() = default;

absl::StatusOr<std::optional<TrainingPosition>>
Trainer::RestoreLatestCheckpoint() {
  if (store_ == nullptr) return std::optional<TrainingPosition>();
  absl::StatusOr<std::optional<StoredCheckpoint>> stored =
      store_->ReadLatestValid();
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<TrainingPosition>();
  absl::StatusOr<TrainingPosition> position =
      RestoreTrainingState((*stored)->payload, model_, optimizer_.get());
  if (!position.ok()) {
    return absl::Status(
        position.status().code(),
        absl::StrCat((*stored)->path, ": ", position.status().message()));
  }
  position_ = *std::move(position);
  position_.seed = options_.seed;
  position_.schedule = schedule_->Describe();
  restored_path_ = (*stored)->path;
  return std::optional<TrainingPosition>(position_);
}

absl::StatusOr<std::string> Trainer::WriteCheckpoint() {
  absl::StatusOr<std::string> payload =
      EncodeTrainingState(*model_, *optimizer_, position_);
  if (!payload.ok()) return payload.status();
  absl::Status written = store_->Write(position_.epochs_completed, *payload);
  if (!written.ok()) return written;
  return store_->PathForEpoch(position_.epochs_completed);
}

absl::Status Trainer::TrainEpoch(data::BatchSource& train, int64_t epoch,
                                 const util::CancellationToken* cancel,
                                 EpochSummary* summary) {
  const int64_t num_classes = train.num_classes();
  const int64_t num_examples = train.num_examples();
  torch::jit::Module* teacher = options_.distillation.teacher;
  try {
    model_->train();
    if (teacher != nullptr) teacher->eval();
    torch::manual_seed(EpochSeed(options_.seed, epoch));
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "prepare epoch");
  }
  train.StartEpoch(epoch);

  const auto epoch_start = Clock::now();
  int64_t step = 0, seen = 0, correct = 0;
  double loss_sum = 0.0, lr = 0.0;
  steps_per_epoch_ = 0;
  while (true) {
    if (cancel != nullptr && cancel->IsCancelled()) {
      return absl::CancelledError(absl::StrCat("training cancelled in epoch ",
                                               epoch, " after step ", step));
    }
    const auto step_start = Clock::now();
    absl::StatusOr<std::optional<data::Batch>> next = train.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) break;
    const data::Batch& batch = **next;
    absl::Status valid = ValidateBatch(batch, num_classes);
    if (!valid.ok()) return valid;
    const int64_t n = batch.labels.size(0);
    if (steps_per_epoch_ == 0) {
      steps_per_epoch_ = std::max<int64_t>((num_examples + n - 1) / n, 1);
    }

    // PyTorch's per-iteration idiom: scheduler.step(epoch + i / iters).
    lr = schedule_->LearningRate(static_cast<double>(epoch) +
                                 static_cast<double>(step) /
                                     static_cast<double>(steps_per_epoch_));
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);

    // The graph executor keeps its optimisations on: switching them off for
    // training (worth ~3 %, within noise) makes a method's cached optimized
    // graph skip inlining, which the pruning engine's graph analysis relies
    // on later.
    absl::StatusOr<torch::Tensor> logits =
        ForwardLogits(*model_, batch.images, num_classes);
    if (!logits.ok()) return logits.status();
    absl::StatusOr<torch::Tensor> loss =
        CrossEntropyLoss(*logits, batch.labels, options_.label_smoothing);
    if (!loss.ok()) return loss.status();
    if (teacher != nullptr) {
      absl::StatusOr<torch::Tensor> teacher_logits;
      {
        torch::NoGradGuard no_grad;
        teacher_logits = ForwardLogits(*teacher, batch.images, num_classes);
      }
      if (!teacher_logits.ok()) {
        return absl::Status(
            teacher_logits.status().code(),
            absl::StrCat("teacher: ", teacher_logits.status().message()));
      }
      absl::StatusOr<torch::Tensor> kd = DistillationLoss(
          *logits, *teacher_logits, options_.distillation.temperature);
      if (!kd.ok()) return kd.status();
      const double alpha = options_.distillation.alpha;
      *loss = (1.0 - alpha) * *loss + alpha * *kd;
    }

    double loss_value = 0.0;
    try {
      ClearGradients(*optimizer_);
      loss->backward();
      optimizer_->step();
      loss_value = loss->item<double>();
      correct += logits->detach()
                     .argmax(/*dim=*/1)
                     .eq(batch.labels)
                     .sum()
                     .item<int64_t>();
    } catch (const std::exception& e) {
      return TorchErrorToStatus(e, absl::StrCat("backward/step on input ",
                                                ShapeString(batch.images)));
    }
    if (!std::isfinite(loss_value)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("loss became %g at epoch %d step %d (lr %g)",
                          loss_value, epoch, step + 1, lr));
    }

    ++step;
    ++position_.global_step;
    seen += n;
    loss_sum += loss_value;
    call_train_seconds_ += SecondsSince(step_start);
    ++call_train_steps_;

    if (options_.progress) {
      const double epoch_seconds = SecondsSince(epoch_start);
      const int64_t remaining_steps =
          std::max<int64_t>(steps_per_epoch_ - step, 0) +
          (options_.epochs - epoch - 1) * steps_per_epoch_;
      Progress p;
      p.phase = Phase::kFinetune;
      p.epoch = epoch;
      p.num_epochs = options_.epochs;
      p.step = step;
      p.steps_per_epoch = steps_per_epoch_;
      p.loss = loss_sum / static_cast<double>(step);
      p.accuracy =
          static_cast<double>(correct) / static_cast<double>(seen);
      p.images_per_second = epoch_seconds > 0 ? seen / epoch_seconds : 0.0;
      p.eta_seconds = call_train_seconds_ /
                      static_cast<double>(call_train_steps_) *
                      static_cast<double>(remaining_steps);
      p.learning_rate = lr;
      options_.progress(p);
    }
  }
  if (step == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("training source yielded no batches in epoch ", epoch));
  }
  summary->epoch = epoch;
  summary->steps = step;
  summary->examples = seen;
  summary->train_loss = loss_sum / static_cast<double>(step);
  summary->train_accuracy =
      static_cast<double>(correct) / static_cast<double>(seen);
  summary->last_learning_rate = lr;
  summary->seconds = SecondsSince(epoch_start);
  summary->images_per_second =
      summary->seconds > 0 ? seen / summary->seconds : 0.0;
  return absl::OkStatus();
}

absl::StatusOr<TrainResult> Trainer::Train(data::BatchSource& train,
                                           data::BatchSource* eval,
                                           const util::CancellationToken* cancel) {
  const auto start = Clock::now();
  SetIntraOpThreadsOfCallingThread(options_.num_threads);
  call_train_seconds_ = 0.0;
  call_train_steps_ = 0;

  TrainResult result;
  if (options_.resume && store_ != nullptr) {
    const TrainingPosition before = position_;
    absl::StatusOr<std::optional<TrainingPosition>> restored =
        RestoreLatestCheckpoint();
    if (!restored.ok()) return restored.status();
    if (restored->has_value()) {
      if ((*restored)->epochs_completed < before.epochs_completed) {
        // This trainer is already further along than the disk; this can
        // only happen when Train() is called again after a failed write.
        return absl::FailedPreconditionError(absl::StrCat(
            "checkpoint at epoch ", (*restored)->epochs_completed,
            " is older than the trainer's epoch ", before.epochs_completed));
      }
      result.resumed_from_epoch = position_.epochs_completed;
      result.resumed_from_path = restored_path_;
    }
  }

  EvalOptions eval_options;
  eval_options.top_k = options_.eval_top_k;
  eval_options.progress = options_.progress;
  eval_options.report_num_epochs = options_.epochs;
  eval_options.cancel = cancel;

  int64_t images = 0;
  for (int64_t epoch = position_.epochs_completed; epoch < options_.epochs;
       ++epoch) {
    EpochSummary summary;
    absl::Status trained = TrainEpoch(train, epoch, cancel, &summary);
    if (!trained.ok()) return trained;
    images += summary.examples;
    position_.epochs_completed = epoch + 1;
    position_.epoch_train_loss.push_back(summary.train_loss);
    position_.epoch_train_accuracy.push_back(summary.train_accuracy);
    // Checkpoint before evaluating: evaluation does not change the state,
    // and a cancelled evaluation must not lose the epoch.
    if (store_ != nullptr) {
      absl::StatusOr<std::string> path = WriteCheckpoint();
      if (!path.ok()) return path.status();
      result.last_checkpoint_path = *path;
    }
    const bool last = epoch + 1 == options_.epochs;
    if (eval != nullptr && (options_.evaluate_every_epoch || last)) {
      eval_options.report_epoch = epoch;
      absl::StatusOr<EvalResult> evaluated =
          Evaluate(*model_, *eval, eval_options);
      if (!evaluated.ok()) return evaluated.status();
      summary.eval = *evaluated;
      if (last) result.final_eval = *evaluated;
    }
    result.epochs.push_back(std::move(summary));
  }
  if (eval != nullptr && !result.final_eval.has_value()) {
    // Nothing left to train (resumed a finished run): still report accuracy.
    eval_options.report_epoch = options_.epochs - 1;
    absl::StatusOr<EvalResult> evaluated =
        Evaluate(*model_, *eval, eval_options);
    if (!evaluated.ok()) return evaluated.status();
    result.final_eval = *evaluated;
  }

  result.epochs_completed = position_.epochs_completed;
  result.global_step = position_.global_step;
  result.train_loss_history = position_.epoch_train_loss;
  result.train_accuracy_history = position_.epoch_train_accuracy;
  result.seconds = SecondsSince(start);
  result.images_per_second =
      call_train_seconds_ > 0 ? images / call_train_seconds_ : 0.0;
  return result;
}

}  // namespace pruneserve::training
