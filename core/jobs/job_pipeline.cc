#include "core/jobs/job_pipeline.h"

#include <algorithm>
#include <vector>

#include "core/data/source_factory.h"
#include "core/jobs/job_spec.h"
#include "core/spec/job_spec_defaults.h"
#include "core/util/status_macros.h"

namespace pruneserve::jobs {

absl::StatusOr<JobDataSources> OpenJobData(const v1::JobSpec& spec,
                                           const JobDataOptions& options) {
  const std::vector<int64_t> shape(spec.input_shape().begin(),
                                   spec.input_shape().end());
  const v1::JobData& d = spec.data();
  JobDataSources out;
  if (!d.train().empty()) {
    data::SourceOptions s;
    s.spec = d.train();
    s.limit = d.train_limit();
    s.batch_size = spec.finetune().batch_size();
    s.shuffle = true;
    s.augment = d.augment();
    s.seed = spec.seed();
    s.threads = options.loader_threads;
    PS_ASSIGN_OR_RETURN(out.train, data::OpenBatchSource(s, shape));
  }
  if (!d.eval().empty()) {
    data::SourceOptions s;
    s.spec = d.eval();
    s.limit = d.eval_limit();
    s.batch_size = options.eval_batch_size;
    s.threads = options.loader_threads;
    PS_ASSIGN_OR_RETURN(out.eval, data::OpenBatchSource(s, shape));
  }
  if (!d.calibration().empty()) {
    data::SourceOptions s;
    s.spec = d.calibration();
    s.limit = d.calibration_images();
    s.batch_size = options.calibration_batch_size;
    s.seed = spec.seed();
    s.threads = options.loader_threads;
    PS_ASSIGN_OR_RETURN(out.calibration, data::OpenBatchSource(s, shape));
  }
  return out;
}

absl::StatusOr<pipeline::PipelineOptions> PipelineOptionsFromSpec(
    const v1::JobSpec& spec, int intra_op_threads) {
  pipeline::PipelineOptions o;
  o.input_shape.assign(spec.input_shape().begin(), spec.input_shape().end());
  const v1::JobPruning& p = spec.pruning();
  o.pruning.policy.kind = spec::PolicyKindOf(p);
  o.pruning.criterion = spec::CriterionKindOf(p);
  o.pruning.seed = spec.seed();
  o.pruning.policy.ratio = p.ratio();
  o.pruning.policy.threshold = p.threshold();
  o.pruning.policy.target_flops_reduction = p.target_flops_reduction();
  o.pruning.policy.target_params_reduction = p.target_params_reduction();
  o.pruning.policy.target_latency_reduction = p.target_latency_reduction();
  o.pruning.policy.round_to = p.round_to();
  o.pruning.policy.min_channels = p.min_channels();
  // 0: the rule's default; negative: no skip.
  if (p.min_sparsity() != 0.0) {
    o.pruning.policy.min_sparsity = std::max(0.0, p.min_sparsity());
  }
  if (p.no_halving_cap()) o.pruning.policy.halving_cap = false;
  PS_ASSIGN_OR_RETURN(o.pruning.policy.refined_rule,
                      pruning::ParseRefinedRule(p.refined_rule()));
  o.pruning.policy.prune_residual_stream = p.prune_residual_stream();
  o.pruning.policy.exclude.assign(p.exclude().begin(), p.exclude().end());
  o.pruning.probe.before_pooling = p.sparsity_before_pooling();
  o.pruning.policy.cumulative_halving = p.cumulative_halving();
  o.rounds = spec.rounds();
  o.split_target = spec.steps() > 0;
  o.calibration_examples = spec.data().calibration_images();
  o.target_params_reduction = spec.target_params_reduction();
  o.target_flops_reduction = spec.target_flops_reduction();
  // The spec's 0 means "off", the pipeline's is any negative value.
  o.max_top1_drop = spec.max_top1_drop() > 0.0 ? spec.max_top1_drop() : -1.0;
  const v1::JobFinetune& f = spec.finetune();
  o.finetune.epochs = f.epochs();
  o.finetune.sgd.learning_rate = f.learning_rate();
  o.finetune.sgd.momentum = f.momentum();
  o.finetune.sgd.weight_decay = f.weight_decay();
  o.finetune.label_smoothing = f.label_smoothing();
  // The teacher itself is the caller's (spec_runner.cc): it must outlive the
  // pipeline.
  if (f.distill()) {
    o.finetune.distillation.alpha = f.distill_alpha();
    o.finetune.distillation.temperature = f.distill_temperature();
  }
  o.finetune.num_threads = intra_op_threads;
  o.finetune.seed = spec.seed();
  return o;
}

}  // namespace pruneserve::jobs
