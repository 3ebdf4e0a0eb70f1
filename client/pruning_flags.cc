#include "client/pruning_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/spec/job_spec_defaults.h"
#include "core/training/trainer_options.h"

namespace pruneserve::client {
namespace {

// "a (default) | b | c" for the names, marking `default_name`.
std::string Choices(const std::vector<std::string>& names,
                    const std::string& default_name) {
  return absl::StrJoin(names, " | ", [&](std::string* out, const auto& name) {
    absl::StrAppend(out, name, name == default_name ? " (default)" : "");
  });
}

}  // namespace

void AddPruningFlags(CLI::App* cmd, PruningFlags& f, const std::string& where) {
  // Every "default" below is what ResolveJobSpec fills in for an unset flag.
  const v1::JobSpec& defaults = spec::JobSpecDefaults();
  const v1::JobPruning& p = defaults.pruning();
  cmd->add_option("--input-shape", f.input_shape, "Input NCHW, e.g. 1,1,28,28");
  cmd->add_option("--train", f.train,
                  absl::StrCat("Fine-tuning data ", where,
                               ", e.g. fashion-mnist:/usr/share/datasets/"
                               "fashion-mnist:train (also the calibration "
                               "data unless --calib). `job submit` also takes "
                               "dataset:NAME[:VERSION][:SPLIT] (uploaded "
                               "data sets) and a local DIR[:SPLIT], which it "
                               "uploads first"));
  cmd->add_option("--eval", f.eval,
                  "Evaluation data: top-1/top-5 before and after each round");
  cmd->add_option("--calib", f.calib,
                  "Calibration data for the sparsity probe and the "
                  "budgeted policy's damage measurement (refined, "
                  "target_flops, budgeted, apoz; default: --train)");
  cmd->add_option("--train-limit", f.train_limit,
                  "Use only the first N training images (default: all)");
  cmd->add_option("--eval-limit", f.eval_limit,
                  "Use only the first N evaluation images (default: all)");
  cmd->add_option("--calib-images", f.calib_images,
                  absl::StrCat("Calibration images per round (default ",
                               defaults.data().calibration_images(), ")"));
  cmd->add_flag("--augment", f.augment,
                "Random crop (padding 2) and flip on the training data");
  cmd->add_option("--policy", f.policy,
                  Choices(pruning::PolicyKindNames(), p.policy()));
  cmd->add_option("--criterion", f.criterion,
                  Choices(pruning::CriterionKindNames(), p.criterion()));
  cmd->add_option("--ratio", f.ratio,
                  absl::StrCat("uniform / global_threshold: fraction of "
                               "channels removed (default ",
                               p.ratio(), ")"));
  cmd->add_option("--threshold", f.threshold,
                  "threshold: remove channels with importance <= this");
  cmd->add_option("--target-flops", f.target_flops,
                  absl::StrCat("target_flops, budgeted, global_normalized, "
                               "lamp: fraction of MACs to remove (default ",
                               p.target_flops_reduction(), ")"));
  cmd->add_option("--target-params", f.target_params,
                  "budgeted: fraction of conv/linear weights to remove; "
                  "alone it replaces the MAC target, with --target-flops "
                  "both must be met");
  cmd->add_option("--target-latency", f.target_latency,
                  "budgeted: fraction of the forward latency to remove, "
                  "timed on the server's CPU at the input shape; the MAC "
                  "target is searched for (--target-flops is its floor). "
                  "One round");
  cmd->add_option("--round-to", f.round_to,
                  absl::StrCat("Round kept channels up to a multiple of this "
                               "(default ",
                               p.round_to(), ")"));
  cmd->add_option("--min-channels", f.min_channels,
                  absl::StrCat("Channels every layer keeps at least (default ",
                               p.min_channels(), ")"));
  cmd->add_option("--min-sparsity", f.min_sparsity,
                  "refined: below this input sparsity a layer loses only "
                  "zero-score channels (default: 0.1 under the plain rule, "
                  "none under the residual rule; negative: none)");
  cmd->add_flag("--no-halving-cap", f.no_halving_cap,
                "refined: do not halve ratios >= 0.5 (the plain rule does)");
  cmd->add_option("--refined-rule", f.refined_rule,
                  "refined: auto (plain without residual adds, else "
                  "residual) | plain (the authors' VGG script) | residual "
                  "(their ResNet-50 script)");
  cmd->add_flag("--sparsity-before-pooling", f.sparsity_before_pooling,
                "refined: measure a layer fed by a max-pool on the pool's "
                "input (pooling hides zeros, so such layers are skipped)");
  cmd->add_flag("--cumulative-halving", f.cumulative_halving,
                "refined: apply the halving cap to each layer's removal over "
                "all rounds, not to each round's ratio");
  cmd->add_flag("--prune-residual-stream", f.prune_residual_stream,
                "Also prune the residual stream, stem and shortcuts");
  cmd->add_option(
      "--exclude", f.exclude,
      "Layer names or RE2 patterns (full match) to leave alone (repeatable)");
  cmd->add_option("--epochs", f.epochs,
                  absl::StrCat("Fine-tuning epochs per round (default 0: "
                               "prune only; the paper uses about ",
                               training::TrainerOptions{}.epochs, ")"));
  cmd->add_option("--lr", f.lr,
                  absl::StrCat("Fine-tuning base learning rate (default ",
                               defaults.finetune().learning_rate(),
                               "; SGD, Nesterov, cosine warm restarts)"));
  cmd->add_option("--batch-size", f.batch_size,
                  absl::StrCat("Fine-tuning batch size (default ",
                               defaults.finetune().batch_size(), ")"));
  cmd->add_option("--label-smoothing", f.label_smoothing, "In [0, 1)");
  cmd->add_flag("--distill", f.distill,
                "Distil from the unpruned model while fine-tuning");
  cmd->add_option("--distill-alpha", f.distill_alpha,
                  absl::StrCat("With --distill: weight of the distillation "
                               "term in (0, 1] (default ",
                               defaults.finetune().distill_alpha(), ")"));
  cmd->add_option("--distill-temperature", f.distill_temperature,
                  absl::StrCat("With --distill: softmax temperature in "
                               "(0, 100] (default ",
                               defaults.finetune().distill_temperature(), ")"));
  cmd->add_option("--rounds", f.rounds,
                  absl::StrCat("Prune -> fine-tune rounds at most (default ",
                               defaults.rounds(), ")"));
  cmd->add_option("--steps", f.steps,
                  "Progressive schedule: N prune -> fine-tune steps toward "
                  "the policy's --target-flops/--target-params, split "
                  "evenly (sets --rounds; budgeted, target_flops, "
                  "global_normalized, lamp)");
  cmd->add_option("--target-params-reduction", f.target_params_reduction,
                  "Stop once this fraction of parameters is gone");
  cmd->add_option("--target-flops-reduction", f.target_flops_reduction,
                  "Stop once this fraction of MACs is gone");
  cmd->add_option("--max-accuracy-drop", f.max_accuracy_drop,
                  "Stop when top-1 falls more than this fraction below the "
                  "baseline (e.g. 0.01; needs --eval)");
  cmd->add_option("--seed", f.seed, "Seed of data order and random criteria");
}

absl::Status ApplyPruningFlags(const PruningFlags& f, v1::JobSpec& spec) {
  spec.clear_input_shape();
  if (!f.input_shape.empty()) {
    for (absl::string_view part :
         absl::StrSplit(f.input_shape, absl::ByAnyChar(",x"))) {
      int64_t d = 0;
      if (!absl::SimpleAtoi(part, &d)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--input-shape \"", f.input_shape, "\" is not like 1,1,28,28"));
      }
      spec.add_input_shape(d);
    }
  }
  v1::JobData* d = spec.mutable_data();
  d->set_train(f.train);
  d->set_eval(f.eval);
  d->set_calibration(f.calib);
  d->set_train_limit(f.train_limit);
  d->set_eval_limit(f.eval_limit);
  d->set_calibration_images(f.calib_images);
  d->set_augment(f.augment);
  v1::JobPruning* p = spec.mutable_pruning();
  p->set_policy(f.policy);
  p->set_criterion(f.criterion);
  p->set_ratio(f.ratio);
  p->set_threshold(f.threshold);
  p->set_target_flops_reduction(f.target_flops);
  p->set_target_params_reduction(f.target_params);
  p->set_target_latency_reduction(f.target_latency);
  p->set_round_to(f.round_to);
  p->set_min_channels(f.min_channels);
  p->set_min_sparsity(f.min_sparsity);
  p->set_no_halving_cap(f.no_halving_cap);
  p->set_refined_rule(f.refined_rule);
  p->set_prune_residual_stream(f.prune_residual_stream);
  p->set_sparsity_before_pooling(f.sparsity_before_pooling);
  p->set_cumulative_halving(f.cumulative_halving);
  p->clear_exclude();
  for (const auto& e : f.exclude) p->add_exclude(e);
  v1::JobFinetune* t = spec.mutable_finetune();
  t->set_epochs(f.epochs);
  t->set_learning_rate(f.lr);
  t->set_batch_size(f.batch_size);
  t->set_label_smoothing(f.label_smoothing);
  t->set_distill(f.distill);
  t->set_distill_alpha(f.distill_alpha);
  t->set_distill_temperature(f.distill_temperature);
  spec.set_rounds(f.rounds);
  spec.set_steps(f.steps);
  spec.set_target_params_reduction(f.target_params_reduction);
  spec.set_target_flops_reduction(f.target_flops_reduction);
  spec.set_max_top1_drop(f.max_accuracy_drop);
  spec.set_seed(f.seed);
  return absl::OkStatus();
}

}  // namespace pruneserve::client
