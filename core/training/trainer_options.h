// The knobs of a fine-tuning run (core/training/trainer.h), apart from the
// Trainer so that code which only reads or fills them (job specs and their
// defaults, command-line help) needs no LibTorch. The initialisers are the
// paper's fine-tuning settings and the only place they are written down.
#ifndef PRUNESERVE_CORE_TRAINING_TRAINER_OPTIONS_H_
#define PRUNESERVE_CORE_TRAINING_TRAINER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "core/training/lr_schedule.h"
#include "core/util/progress.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace pruneserve::training {

// torch.optim.SGD's knobs, defaulting to the paper's fine-tuning values.
struct SgdOptions {
  // Base learning rate; the schedule starts here.
  double learning_rate = 0.01;
  double momentum = 0.9;
  // Nesterov momentum (requires momentum > 0 and dampening == 0).
  bool nesterov = true;
  // L2 penalty added to the gradient of every parameter (BN included, as in
  // the paper's scripts).
  double weight_decay = 1e-4;
  double dampening = 0.0;
};

// Knowledge distillation from a frozen teacher. Off unless `teacher` is set.
struct DistillationOptions {
  // The teacher (typically the unpruned model), run in eval mode without
  // autograd. Not owned; must outlive the Trainer. Null disables
  // distillation.
  torch::jit::Module* teacher = nullptr;
  // loss = (1 - alpha) * cross_entropy + alpha * distillation_term.
  double alpha = 0.5;
  // Softmax temperature of the distillation term.
  double temperature = 4.0;
};

struct TrainerOptions {
  // Epochs to train in total; a resumed run trains only the rest. The paper
  // fine-tunes for ~50.
  int64_t epochs = 50;
  // Optimizer; defaults are the paper's (0.01, 0.9, Nesterov, 1e-4).
  SgdOptions sgd;
  // Learning-rate schedule; default cosine warm restarts with T_0 = epochs
  // and eta_min = 1e-5, stepped every iteration.
  LrScheduleOptions schedule;
  // Cross-entropy label smoothing in [0, 1); 0 is off (the paper's setting).
  double label_smoothing = 0.0;
  // Optional teacher; off by default.
  DistillationOptions distillation;
  // LibTorch intra-op threads of the calling thread (the setting is per
  // thread: core/util/intra_op_threads.h); <= 0 leaves it alone.
  int num_threads = 0;
  // Seeds LibTorch's CPU generator at the start of every epoch with a value
  // derived from (seed, epoch), so dropout and other random ops are
  // reproducible and a resumed run matches an uninterrupted one. Data order
  // is the BatchSource's (a function of its own seed and the epoch).
  uint64_t seed = 0;
  // Directory for per-epoch checkpoints; empty disables checkpointing.
  std::string checkpoint_dir;
  // Checkpoint file-name prefix inside checkpoint_dir.
  std::string checkpoint_prefix = "ckpt";
  // Newest checkpoints kept (0 or >= 2; 0 keeps all).
  int keep_checkpoints = 2;
  // When true and checkpoint_dir holds a valid checkpoint, Train() resumes
  // from the newest valid one.
  bool resume = true;
  // Evaluate on the evaluation source (if Train() got one) after every epoch;
  // when false, only after the last.
  bool evaluate_every_epoch = true;
  // Top-k reported by evaluation.
  int64_t eval_top_k = 5;
  // Called on the training thread after every step (train and evaluate);
  // may be empty.
  ProgressCallback progress;
};

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_TRAINER_OPTIONS_H_
