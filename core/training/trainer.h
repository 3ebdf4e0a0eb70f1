// Fine-tuning (and training from scratch) of a TorchScript classifier: the
// loop the paper uses after each pruning round. SGD with momentum / Nesterov
// and weight decay over all module parameters, a learning-rate schedule
// stepped every iteration with a fractional epoch, cross-entropy with
// optional label smoothing, optional knowledge distillation from a teacher,
// per-step progress and cancellation, and a durable checkpoint at the end of
// every epoch from which a new Trainer resumes to the same result.
//
// Typical use:
//   TrainerOptions opts;           // paper defaults
//   opts.epochs = 50;
//   opts.checkpoint_dir = job_dir + "/checkpoints";
//   PS_ASSIGN_OR_RETURN(auto trainer, Trainer::Create(&module, opts));
//   PS_ASSIGN_OR_RETURN(TrainResult r, trainer->Train(train, &test, &token));
#ifndef PRUNESERVE_CORE_TRAINING_TRAINER_H_
#define PRUNESERVE_CORE_TRAINING_TRAINER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/util/cancellation_token.h"
#include "core/training/checkpoint_store.h"
#include "core/training/evaluator.h"
#include "core/training/lr_schedule.h"
#include "core/training/trainer_options.h"
#include "core/training/training_checkpoint.h"

// torch::jit::Module and torch::optim::SGD are forward-declared by
// training_checkpoint.h.
namespace pruneserve::training {

// Statistics of one epoch trained in this Train() call.
struct EpochSummary {
  int64_t epoch = 0;
  double train_loss = 0.0;
  double train_accuracy = 0.0;
  // Learning rate of the epoch's last step.
  double last_learning_rate = 0.0;
  int64_t steps = 0;
  int64_t examples = 0;
  double seconds = 0.0;
  double images_per_second = 0.0;
  // Set when the epoch was evaluated.
  std::optional<EvalResult> eval;
};

struct TrainResult {
  // Epochs completed in total, including those restored from a checkpoint.
  int64_t epochs_completed = 0;
  // Optimizer steps taken in total.
  int64_t global_step = 0;
  // Epochs restored from a checkpoint before training (0 for a fresh run).
  int64_t resumed_from_epoch = 0;
  // Path of the checkpoint resumed from; empty for a fresh run.
  std::string resumed_from_path;
  // Mean loss / top-1 accuracy of every completed epoch, restored ones too.
  std::vector<double> train_loss_history;
  std::vector<double> train_accuracy_history;
  // The epochs trained by this call.
  std::vector<EpochSummary> epochs;
  // Evaluation after the final epoch, when an evaluation source was given.
  std::optional<EvalResult> final_eval;
  // Path of the last checkpoint written; empty when none.
  std::string last_checkpoint_path;
  // Wall time of this call and training throughput (evaluation excluded).
  double seconds = 0.0;
  double images_per_second = 0.0;
};

// Trains one module. Owns its optimizer, schedule and checkpoint store; does
// not own the module, the teacher, or the sources, which must outlive it.
// Not thread-safe: call from one thread, one Train() at a time; only the
// CancellationToken may be touched from other threads.
//
// Process-wide side effect: Train() raises glibc's mmap and trim thresholds
// (64 MiB / 256 MiB) so activation buffers freed every step are reused
// instead of being returned to the kernel and faulted in again; this made
// training ~25 % faster and can keep up to 256 MiB more than the peak in
// use after training ends.
class Trainer {
 public:
  // Validates `options`, marks every parameter of `model` as requiring grad,
  // builds the optimizer over model->parameters() and the schedule, and
  // opens (creating) the checkpoint directory. Returns INVALID_ARGUMENT for
  // bad options or a model without parameters, the file-system error when
  // the checkpoint directory cannot be created. Does not block on training.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      torch::jit::Module* model, TrainerOptions options);

  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Loads the newest valid checkpoint into the model and optimizer, skipping
  // damaged ones. Returns the restored position, std::nullopt when there is
  // no valid checkpoint (or checkpointing is off), FAILED_PRECONDITION when
  // the checkpoint belongs to a different architecture. Blocks on reads.
  absl::StatusOr<std::optional<TrainingPosition>> RestoreLatestCheckpoint();

  // Trains until options.epochs epochs are complete, resuming first when
  // options.resume is set. `eval` may be null. Blocks until done. Returns
  // CANCELLED within one step of `cancel` firing (the checkpoint of the last
  // completed epoch stays on disk), the source's error when Next() fails,
  // INVALID_ARGUMENT for malformed batches, a non-finite loss or a failing
  // forward/backward, and the file-system error when a checkpoint cannot be
  // written.
  absl::StatusOr<TrainResult> Train(data::BatchSource& train,
                                    data::BatchSource* eval = nullptr,
                                    const util::CancellationToken* cancel = nullptr);

  // Where training stands (epochs completed, steps, history).
  const TrainingPosition& position() const { return position_; }

  // The schedule in use.
  const LrSchedule& schedule() const { return *schedule_; }

 private:
  Trainer(torch::jit::Module* model, TrainerOptions options,
          std::unique_ptr<torch::optim::SGD> optimizer,
          std::unique_ptr<LrSchedule> schedule,
          std::unique_ptr<CheckpointStore> store);

  // Runs one epoch of optimizer steps and fills `summary`.
  absl::Status TrainEpoch(data::BatchSource& train, int64_t epoch,
                          const util::CancellationToken* cancel,
                          EpochSummary* summary);

  // Encodes the state and writes the checkpoint for position_.
  absl::StatusOr<std::string> WriteCheckpoint();

  torch::jit::Module* const model_;
  const TrainerOptions options_;
  std::unique_ptr<torch::optim::SGD> optimizer_;
  std::unique_ptr<LrSchedule> schedule_;
  std::unique_ptr<CheckpointStore> store_;  // null when checkpointing is off
  TrainingPosition position_;
  // Wall seconds and steps of training in the current Train() call, for ETA.
  double call_train_seconds_ = 0.0;
  int64_t call_train_steps_ = 0;
  int64_t steps_per_epoch_ = 0;
  // Path of the checkpoint last restored; empty when none.
  std::string restored_path_;
};

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_TRAINER_H_
