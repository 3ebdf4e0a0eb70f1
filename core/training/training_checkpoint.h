// What goes into a training checkpoint and how it is encoded: the model's
// parameters and buffers (BatchNorm running statistics included), the SGD
// momentum buffers, and the run's position (epochs completed, global step,
// seed, per-epoch history). Learning-rate schedules are pure functions of the
// position (lr_schedule.h), so the position is all the schedule needs. The
// payload is a TorchScript pickle (readable with torch.load in Python);
// CheckpointStore adds the integrity framing and durable storage.
#ifndef PRUNESERVE_CORE_TRAINING_TRAINING_CHECKPOINT_H_
#define PRUNESERVE_CORE_TRAINING_TRAINING_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace torch {
namespace jit {
struct Module;
}  // namespace jit
namespace optim {
class SGD;
}  // namespace optim
}  // namespace torch

namespace pruneserve::training {

// Where a run stands at an epoch boundary. Plain value.
struct TrainingPosition {
  // Epochs fully trained; a resumed run starts at this (0-based) epoch.
  int64_t epochs_completed = 0;
  // Optimizer steps taken so far.
  int64_t global_step = 0;
  // The run's seed; per-epoch random state is derived from (seed, epoch).
  uint64_t seed = 0;
  // Describe() of the learning-rate schedule, for humans.
  std::string schedule;
  // Mean training loss and top-1 accuracy of each completed epoch.
  std::vector<double> epoch_train_loss;
  std::vector<double> epoch_train_accuracy;
};

// Serializes `model` (parameters and buffers, recursively), the momentum
// buffers of `optimizer` (which must have been built over
// model.parameters() in order) and `position`. Returns INTERNAL when torch
// fails to serialize. Does not block on I/O.
absl::StatusOr<std::string> EncodeTrainingState(
    const torch::jit::Module& model, const torch::optim::SGD& optimizer,
    const TrainingPosition& position);

// Restores what EncodeTrainingState wrote into `model` and `optimizer`
// (copying values into the existing tensors) and returns the position.
// Returns DATA_LOSS when the payload does not decode and FAILED_PRECONDITION
// when its parameter/buffer names or shapes do not match `model`; `model` is
// unchanged in both cases. Does not block on I/O.
absl::StatusOr<TrainingPosition> RestoreTrainingState(
    absl::string_view payload, torch::jit::Module* model,
    torch::optim::SGD* optimizer);

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_TRAINING_CHECKPOINT_H_
