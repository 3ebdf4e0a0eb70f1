// PruningPipeline: the round loop, the stop rules and the translation of
// engine, trainer and evaluator results into the PipelineReport proto.
#include "core/pipeline/pruning_pipeline.h"

#include <chrono>
#include <exception>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/pruning/flops_counter.h"
#include "core/training/evaluator.h"
#include "core/training/lr_schedule.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace pruneserve::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

// A trainer or evaluator event placed in its round. Epoch fields are kept
// only for fine-tuning (they are 0 outside it by contract).
Progress InRound(Progress p, int round, int num_rounds) {
  p.round = round;
  p.num_rounds = num_rounds;
  if (p.phase != Phase::kFinetune) {
    p.epoch = 0;
    p.num_epochs = 0;
  }
  return p;
}

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

absl::Status CheckCancelled(const util::CancellationToken* cancel) {
  if (cancel != nullptr && cancel->IsCancelled()) {
    return absl::CancelledError("pruning pipeline cancelled");
  }
  return absl::OkStatus();
}

// 1 - after / before, 0 when `before` is not positive.
double Reduction(int64_t before, int64_t after) {
  if (before <= 0) return 0.0;
  return 1.0 - static_cast<double>(after) / static_cast<double>(before);
}

// The progressive schedule's targets for `round` (0-based) of `rounds`:
// for each target the goal sets (MACs, and weights when budgeted has one),
// the fraction of what the model has `now` that brings it to (round + 1) /
// rounds of the final target, counted against `baseline`.
void SplitTargetFor(int round, int rounds, const v1::ModelSnapshot& baseline,
                    const v1::ModelSnapshot& now,
                    const pruning::PolicyOptions& goal,
                    pruning::PolicyOptions& policy) {
  auto split = [&](double final_target, int64_t base_count,
                   int64_t have_count) {
    const double base = static_cast<double>(base_count);
    const double have = static_cast<double>(have_count);
    const double want = base * (1.0 - final_target * (round + 1) / rounds);
    // At least a sliver, so a round that already overshot still runs.
    const double step = have > 0 ? std::max(0.001, 1.0 - want / have) : 0.001;
    return std::min(step, 0.99);
  };
  if (goal.target_flops_reduction > 0) {
    policy.target_flops_reduction =
        split(goal.target_flops_reduction, baseline.flops(), now.flops());
  }
  if (goal.target_params_reduction > 0) {
    policy.target_params_reduction =
        split(goal.target_params_reduction, baseline.params(), now.params());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<PruningPipeline>> PruningPipeline::Create(
    PipelineOptions options) {
  if (options.input_shape.size() != 4) {
    return absl::InvalidArgumentError(
        "input_shape must have 4 dims (N, C, H, W)");
  }
  for (int64_t d : options.input_shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError("input_shape dims must be positive");
    }
  }
  if (options.rounds < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("rounds must be >= 1, got ", options.rounds));
  }
  for (double target :
       {options.target_params_reduction, options.target_flops_reduction}) {
    if (target < 0.0 || target >= 1.0) {
      return absl::InvalidArgumentError(
          absl::StrCat("reduction targets must be in [0, 1), got ", target));
    }
  }
  if (options.finetune.epochs < 0) {
    return absl::InvalidArgumentError("finetune.epochs must be >= 0");
  }
  if (options.split_target &&
      !pruning::PolicyHasTarget(options.pruning.policy.kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a progressive schedule needs a policy with a target, not ",
        pruning::PolicyKindName(options.pruning.policy.kind)));
  }
  if (options.calibration_examples < 0) {
    return absl::InvalidArgumentError("calibration_examples must be >= 0");
  }
  if (options.eval_top_k < 1) {
    return absl::InvalidArgumentError("eval_top_k must be >= 1");
  }
  return std::unique_ptr<PruningPipeline>(
      new PruningPipeline(std::move(options)));
}

PruningPipeline::PruningPipeline(PipelineOptions options)
    : options_(std::move(options)) {}

void PruningPipeline::Report(const Progress& progress) const {
  if (options_.progress) options_.progress(progress);
}

absl::StatusOr<v1::ModelSnapshot> PruningPipeline::Measure(
    torch::jit::Module& module, data::BatchSource* eval, int round,
    const util::CancellationToken* cancel) const {
  v1::ModelSnapshot snapshot;
  PS_ASSIGN_OR_RETURN(pruning::ModelCost cost,
                      pruning::CountModelCost(module, options_.input_shape));
  snapshot.set_params(cost.total_params);
  snapshot.set_flops(cost.total_macs);
  snapshot.set_top1_accuracy(-1.0);
  snapshot.set_top5_accuracy(-1.0);
  snapshot.set_eval_loss(-1.0);
  if (eval == nullptr) {
    if (options_.snapshot) options_.snapshot(round, snapshot);
    return snapshot;
  }

  training::EvalOptions eval_options;
  eval_options.top_k = options_.eval_top_k;
  eval_options.num_threads = options_.finetune.num_threads;
  eval_options.cancel = cancel;
  eval_options.progress = [this, round](const Progress& p) {
    Report(InRound(p, round, options_.rounds));
  };
  PS_ASSIGN_OR_RETURN(training::EvalResult result,
                      training::Evaluate(module, *eval, eval_options));
  snapshot.set_top1_accuracy(result.top1_accuracy);
  snapshot.set_top5_accuracy(result.topk_accuracy);
  snapshot.set_eval_loss(result.mean_loss);
  snapshot.set_eval_examples(result.num_examples);
  if (options_.snapshot) options_.snapshot(round, snapshot);
  return snapshot;
}

absl::StatusOr<training::TrainResult> PruningPipeline::Finetune(
    torch::jit::Module& module, data::BatchSource& train, int round,
    const util::CancellationToken* cancel) const {
  training::TrainerOptions trainer_options = options_.finetune;
  if (!trainer_options.checkpoint_dir.empty()) {
    trainer_options.checkpoint_dir =
        absl::StrCat(trainer_options.checkpoint_dir, "/round_", round);
  }
  // The pipeline evaluates after fine-tuning itself; per-epoch evaluation
  // inside the trainer would only repeat that work.
  trainer_options.evaluate_every_epoch = false;
  trainer_options.progress = [this, round](const Progress& p) {
    if (p.phase != Phase::kFinetune) return;
    Report(InRound(p, round, options_.rounds));
  };
  PS_ASSIGN_OR_RETURN(auto trainer,
                      training::Trainer::Create(&module, trainer_options));
  return trainer->Train(train, /*eval=*/nullptr, cancel);
}

absl::StatusOr<PipelineResult> PruningPipeline::Run(
    const torch::jit::Module& model, const PipelineData& data,
    const util::CancellationToken* cancel) const {
  const auto run_start = Clock::now();
  const bool finetuning = options_.finetune.epochs > 0;
  if (finetuning && data.train == nullptr) {
    return absl::FailedPreconditionError(
        "fine-tuning is on (epochs > 0) but no training data was given");
  }
  data::BatchSource* calibration =
      data.calibration != nullptr ? data.calibration : data.train;
  PS_RETURN_IF_ERROR(CheckCancelled(cancel));

  v1::PipelineReport report;
  for (int64_t d : options_.input_shape) report.add_input_shape(d);
  if (finetuning) {
    auto schedule = training::MakeLrSchedule(
        options_.finetune.schedule, options_.finetune.sgd.learning_rate,
        options_.finetune.epochs);
    if (!schedule.ok()) return schedule.status();
    report.set_finetune_schedule(absl::StrCat(
        "SGD lr ", options_.finetune.sgd.learning_rate, " momentum ",
        options_.finetune.sgd.momentum,
        options_.finetune.sgd.nesterov ? " nesterov" : "", " wd ",
        options_.finetune.sgd.weight_decay, ", ", (*schedule)->Describe(), ", ",
        options_.finetune.epochs, " epochs/round"));
  } else {
    report.set_finetune_schedule("none");
  }

  // The caller's module stays untouched: evaluation only flips (and then
  // restores) its training flag, and pruning works on a deep copy.
  torch::jit::Module current = model;
  {
    Progress start;
    start.phase = Phase::kEvaluate;
    start.round = -1;
    start.num_rounds = options_.rounds;
    Report(start);
  }
  PS_ASSIGN_OR_RETURN(v1::ModelSnapshot baseline,
                      Measure(current, data.eval, -1, cancel));
  *report.mutable_baseline() = baseline;
  *report.mutable_final() = baseline;

  pruning::PruningOptions prune_options = options_.pruning;
  prune_options.probe.max_examples = options_.calibration_examples;

  v1::PipelineReport::StopReason stop = v1::PipelineReport::ROUNDS_COMPLETED;
  for (int round = 0; round < options_.rounds; ++round) {
    PS_RETURN_IF_ERROR(CheckCancelled(cancel));
    v1::PipelineRound* record = report.add_rounds();
    record->set_round(round);

    Progress prune_progress;
    prune_progress.phase = Phase::kPrune;
    prune_progress.round = round;
    prune_progress.num_rounds = options_.rounds;
    Report(prune_progress);
    auto prune_start = Clock::now();
    if (options_.split_target) {
      SplitTargetFor(round, options_.rounds, baseline, report.final(),
                     options_.pruning.policy, prune_options.policy);
    }
    PS_ASSIGN_OR_RETURN(pruning::PruningResult pruned,
                        pruning::PruneModule(current, options_.input_shape,
                                             prune_options, calibration));
    record->set_prune_ms(MillisSince(prune_start));
    prune_progress.step = 1;
    prune_progress.steps_per_epoch = 1;
    Report(prune_progress);
    if (prune_options.policy.cumulative_halving &&
        prune_options.policy.original_channels.empty()) {
      // Round 1 saw the groups whole: later rounds count against this.
      for (const v1::LayerPruningReport& layer : pruned.report.layers()) {
        prune_options.policy.original_channels[layer.name()] =
            layer.channels_before();
      }
    }
    *record->mutable_pruning() = std::move(pruned.report);
    current = std::move(pruned.module);
    PS_RETURN_IF_ERROR(CheckCancelled(cancel));

    auto eval_start = Clock::now();
    PS_ASSIGN_OR_RETURN(*record->mutable_after_prune(),
                        Measure(current, data.eval, round, cancel));
    double evaluate_ms = MillisSince(eval_start);

    if (finetuning) {
      auto finetune_start = Clock::now();
      PS_ASSIGN_OR_RETURN(training::TrainResult trained,
                          Finetune(current, *data.train, round, cancel));
      record->set_finetune_ms(MillisSince(finetune_start));
      record->set_finetune_epochs(trained.epochs_completed);
      if (!trained.train_loss_history.empty()) {
        record->set_final_train_loss(trained.train_loss_history.back());
      }
      eval_start = Clock::now();
      PS_ASSIGN_OR_RETURN(*record->mutable_after_finetune(),
                          Measure(current, data.eval, round, cancel));
      evaluate_ms += MillisSince(eval_start);
    } else {
      *record->mutable_after_finetune() = record->after_prune();
    }
    record->set_evaluate_ms(evaluate_ms);
    *report.mutable_final() = record->after_finetune();

    // Stop rules, most decisive first.
    const v1::ModelSnapshot& now = record->after_finetune();
    if (options_.max_top1_drop >= 0.0 && data.eval != nullptr &&
        baseline.top1_accuracy() - now.top1_accuracy() >
            options_.max_top1_drop) {
      stop = v1::PipelineReport::ACCURACY_DROP_EXCEEDED;
      break;
    }
    if (options_.target_params_reduction > 0.0 &&
        Reduction(baseline.params(), now.params()) >=
            options_.target_params_reduction) {
      stop = v1::PipelineReport::TARGET_PARAMS_REACHED;
      break;
    }
    if (options_.target_flops_reduction > 0.0 &&
        Reduction(baseline.flops(), now.flops()) >=
            options_.target_flops_reduction) {
      stop = v1::PipelineReport::TARGET_FLOPS_REACHED;
      break;
    }
    if (record->pruning().params_after() >= record->pruning().params_before() &&
        round + 1 < options_.rounds) {
      stop = v1::PipelineReport::NOTHING_TO_PRUNE;
      break;
    }
  }

  report.set_stop_reason(stop);
  report.set_params_reduction(
      Reduction(baseline.params(), report.final().params()));
  report.set_flops_reduction(
      Reduction(baseline.flops(), report.final().flops()));
  if (data.eval != nullptr) {
    report.set_top1_drop(baseline.top1_accuracy() -
                         report.final().top1_accuracy());
  }
  try {
    current.eval();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "module.eval() after pipeline",
                              absl::StatusCode::kInternal);
  }
  report.set_elapsed_ms(MillisSince(run_start));
  return PipelineResult{std::move(current), std::move(report)};
}

}  // namespace pruneserve::pipeline
