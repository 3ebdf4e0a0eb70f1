// Learning-rate schedules for the trainer. A schedule is a pure function of
// training progress measured in fractional epochs (epoch + step /
// steps_per_epoch), so the trainer steps it once per iteration and a resumed
// run only needs to know where it stopped: there is no hidden schedule state
// to checkpoint.
#ifndef PRUNESERVE_CORE_TRAINING_LR_SCHEDULE_H_
#define PRUNESERVE_CORE_TRAINING_LR_SCHEDULE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace pruneserve::training {

// Maps training progress to a learning rate. Implementations are immutable
// after construction and therefore thread-safe.
class LrSchedule {
 public:
  virtual ~LrSchedule() = default;

  // Returns the learning rate at `epoch`, a fractional epoch >= 0 (epoch 2.5
  // is half-way through the third epoch). Never fails.
  virtual double LearningRate(double epoch) const = 0;

  // A one-line human-readable description, e.g. for job reports.
  virtual std::string Describe() const = 0;
};

// Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter), with the
// same arithmetic as PyTorch's CosineAnnealingWarmRestarts when it is stepped
// with a fractional epoch:
//   lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
// where the i-th cycle lasts T_i = T_0 * T_mult^i epochs and T_cur is the
// progress inside the current cycle.
class CosineWarmRestartsSchedule : public LrSchedule {
 public:
  // Returns INVALID_ARGUMENT unless base_lr >= eta_min >= 0, t0_epochs > 0
  // and t_mult >= 1.
  static absl::StatusOr<std::unique_ptr<CosineWarmRestartsSchedule>> Create(
      double base_lr, double t0_epochs, int64_t t_mult, double eta_min);

  double LearningRate(double epoch) const override;
  std::string Describe() const override;

 private:
  CosineWarmRestartsSchedule(double base_lr, double t0_epochs, int64_t t_mult,
                             double eta_min);

  const double base_lr_;
  const double t0_epochs_;
  const int64_t t_mult_;
  const double eta_min_;
};

// Step decay: lr = base_lr * gamma^floor(epoch / step_epochs). The rate
// changes only at whole-epoch boundaries, like PyTorch's StepLR stepped once
// per epoch.
class StepDecaySchedule : public LrSchedule {
 public:
  // Returns INVALID_ARGUMENT unless base_lr >= 0, step_epochs >= 1 and
  // gamma > 0.
  static absl::StatusOr<std::unique_ptr<StepDecaySchedule>> Create(
      double base_lr, int64_t step_epochs, double gamma);

  double LearningRate(double epoch) const override;
  std::string Describe() const override;

 private:
  StepDecaySchedule(double base_lr, int64_t step_epochs, double gamma);

  const double base_lr_;
  const int64_t step_epochs_;
  const double gamma_;
};

// Which schedule the trainer builds, with the paper's fine-tuning defaults.
struct LrScheduleOptions {
  enum class Kind { kCosineWarmRestarts, kStepDecay, kConstant };
  // The schedule family. The paper fine-tunes with cosine warm restarts.
  Kind kind = Kind::kCosineWarmRestarts;
  // Cosine: length of the first cycle in epochs; <= 0 means "the number of
  // training epochs" (the paper's T_0 = epochs, i.e. one cycle, no restart).
  double t0_epochs = 0;
  // Cosine: each cycle is t_mult times longer than the previous one.
  int64_t t_mult = 1;
  // Cosine: the floor the rate anneals to.
  double eta_min = 1e-5;
  // Step decay: multiply the rate by `gamma` every `step_epochs` epochs.
  int64_t step_epochs = 30;
  double gamma = 0.1;
};

// Builds the schedule `options` describes for a run of `epochs` epochs
// starting at `base_lr`. Returns INVALID_ARGUMENT for out-of-range values.
absl::StatusOr<std::unique_ptr<LrSchedule>> MakeLrSchedule(
    const LrScheduleOptions& options, double base_lr, int64_t epochs);

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_LR_SCHEDULE_H_
