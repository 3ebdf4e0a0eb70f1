// Names for the progress phases, for logs and wire reports.
#include "core/training/training_progress.h"

namespace pruneserve::training {

const char* TrainingPhaseName(TrainingPhase phase) {
  switch (phase) {
    case TrainingPhase::kTrain:
      return "train";
    case TrainingPhase::kEvaluate:
      return "evaluate";
  }
  return "unknown";
}

}  // namespace pruneserve::training
