// Implementations of the learning-rate schedules declared in lr_schedule.h.
#include "core/training/lr_schedule.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"

namespace pruneserve::training {
namespace {

constexpr double kPi = 3.14159265358979323846;

// A schedule that never changes; used for kConstant.
class ConstantSchedule : public LrSchedule {
 public:
  explicit ConstantSchedule(double lr) : lr_(lr) {}
  double LearningRate(double) const override { return lr_; }
  std::string Describe() const override {
    return absl::StrFormat("constant(lr=%g)", lr_);
  }

 private:
  const double lr_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CosineWarmRestartsSchedule>>
CosineWarmRestartsSchedule::Create(double base_lr, double t0_epochs,
                                   int64_t t_mult, double eta_min) {
  if (!(eta_min >= 0) || !(base_lr >= eta_min)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cosine schedule needs base_lr >= eta_min >= 0, got %g and %g", base_lr,
        eta_min));
  }
  if (!(t0_epochs > 0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cosine schedule needs T_0 > 0, got %g", t0_epochs));
  }
  if (t_mult < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cosine schedule needs T_mult >= 1, got %d", t_mult));
  }
  return std::unique_ptr<CosineWarmRestartsSchedule>(
      new CosineWarmRestartsSchedule(base_lr, t0_epochs, t_mult, eta_min));
}

CosineWarmRestartsSchedule::CosineWarmRestartsSchedule(double base_lr,
                                                       double t0_epochs,
                                                       int64_t t_mult,
                                                       double eta_min)
    : base_lr_(base_lr),
      t0_epochs_(t0_epochs),
      t_mult_(t_mult),
      eta_min_(eta_min) {}

double CosineWarmRestartsSchedule::LearningRate(double epoch) const {
  if (epoch < 0) epoch = 0;
  double t_cur = epoch;
  double t_i = t0_epochs_;
  if (epoch >= t0_epochs_) {
    if (t_mult_ == 1) {
      t_cur = std::fmod(epoch, t0_epochs_);
    } else {
      // Cycle n starts at T_0 * (m^n - 1) / (m - 1); invert that for n.
      const double m = static_cast<double>(t_mult_);
      const int64_t n = static_cast<int64_t>(
          std::floor(std::log(epoch / t0_epochs_ * (m - 1) + 1) / std::log(m)));
      const double m_pow_n = std::pow(m, static_cast<double>(n));
      t_cur = epoch - t0_epochs_ * (m_pow_n - 1) / (m - 1);
      t_i = t0_epochs_ * m_pow_n;
    }
  }
  return eta_min_ +
         (base_lr_ - eta_min_) * (1 + std::cos(kPi * t_cur / t_i)) / 2;
}

std::string CosineWarmRestartsSchedule::Describe() const {
  return absl::StrFormat(
      "cosine_warm_restarts(lr=%g, T_0=%g, T_mult=%d, eta_min=%g)", base_lr_,
      t0_epochs_, t_mult_, eta_min_);
}

absl::StatusOr<std::unique_ptr<StepDecaySchedule>> StepDecaySchedule::Create(
    double base_lr, int64_t step_epochs, double gamma) {
  if (!(base_lr >= 0) || step_epochs < 1 || !(gamma > 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "step decay needs base_lr >= 0, step_epochs >= 1, gamma > 0; got "
        "%g, %d, %g",
        base_lr, step_epochs, gamma));
  }
  return std::unique_ptr<StepDecaySchedule>(
      new StepDecaySchedule(base_lr, step_epochs, gamma));
}

StepDecaySchedule::StepDecaySchedule(double base_lr, int64_t step_epochs,
                                     double gamma)
    : base_lr_(base_lr), step_epochs_(step_epochs), gamma_(gamma) {}

double StepDecaySchedule::LearningRate(double epoch) const {
  if (epoch < 0) epoch = 0;
  // Tiny tolerance so 2.9999999 from step/steps_per_epoch arithmetic does not
  // decide a boundary; whole epochs are what this schedule is defined on.
  const int64_t whole_epochs = static_cast<int64_t>(std::floor(epoch + 1e-9));
  const int64_t decays = whole_epochs / step_epochs_;
  return base_lr_ * std::pow(gamma_, static_cast<double>(decays));
}

std::string StepDecaySchedule::Describe() const {
  return absl::StrFormat("step_decay(lr=%g, step_epochs=%d, gamma=%g)",
                         base_lr_, step_epochs_, gamma_);
}

absl::StatusOr<std::unique_ptr<LrSchedule>> MakeLrSchedule(
    const LrScheduleOptions& options, double base_lr, int64_t epochs) {
  switch (options.kind) {
    case LrScheduleOptions::Kind::kCosineWarmRestarts: {
      const double t0 = options.t0_epochs > 0 ? options.t0_epochs
                                              : static_cast<double>(epochs);
      auto schedule = CosineWarmRestartsSchedule::Create(
          base_lr, t0, options.t_mult, options.eta_min);
      if (!schedule.ok()) return schedule.status();
      return std::unique_ptr<LrSchedule>(std::move(*schedule));
    }
    case LrScheduleOptions::Kind::kStepDecay: {
      auto schedule = StepDecaySchedule::Create(base_lr, options.step_epochs,
                                                options.gamma);
      if (!schedule.ok()) return schedule.status();
      return std::unique_ptr<LrSchedule>(std::move(*schedule));
    }
    case LrScheduleOptions::Kind::kConstant:
      if (!(base_lr >= 0)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "constant schedule needs lr >= 0, got %g", base_lr));
      }
      return std::unique_ptr<LrSchedule>(
          std::make_unique<ConstantSchedule>(base_lr));
  }
  return absl::InvalidArgumentError("unknown learning-rate schedule kind");
}

}  // namespace pruneserve::training
