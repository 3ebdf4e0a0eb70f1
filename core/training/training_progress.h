// What a training or evaluation run reports while it works, and the callback
// type through which it reports it. Consumers (the job service, prunectl's
// progress bar, benchmarks) see one update per step.
#ifndef PRUNESERVE_CORE_TRAINING_TRAINING_PROGRESS_H_
#define PRUNESERVE_CORE_TRAINING_TRAINING_PROGRESS_H_

#include <cstdint>
#include <functional>

namespace pruneserve::training {

enum class TrainingPhase {
  kTrain,     // optimizer steps on the training source
  kEvaluate,  // forward passes over an evaluation source
};

// Returns "train" or "evaluate".
const char* TrainingPhaseName(TrainingPhase phase);

// A snapshot after one step. Plain value; copy freely.
struct TrainingProgress {
  TrainingPhase phase = TrainingPhase::kTrain;
  // 0-based epoch being run (for kEvaluate: the epoch just trained, or 0 for
  // a standalone evaluation).
  int64_t epoch = 0;
  // Total epochs of the run (1 for a standalone evaluation).
  int64_t num_epochs = 0;
  // 1-based step inside the epoch that just finished.
  int64_t step = 0;
  // Steps per epoch, estimated from the source size and the first batch.
  int64_t steps_per_epoch = 0;
  // Mean loss over the steps of this epoch so far.
  double loss = 0.0;
  // Top-1 accuracy in [0, 1] over the examples of this epoch so far.
  double running_accuracy = 0.0;
  // Throughput of this phase of this epoch so far.
  double images_per_second = 0.0;
  // Estimated seconds until the run (all remaining epochs of this phase)
  // ends; 0 when unknown.
  double eta_seconds = 0.0;
  // Learning rate used for this step (0 for kEvaluate).
  double learning_rate = 0.0;
};

// Called on the training thread after each step; must be quick and must not
// call back into the trainer. May cancel the run's CancellationToken.
using ProgressCallback = std::function<void(const TrainingProgress&)>;

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_TRAINING_PROGRESS_H_
