#include "core/pruning/pruning_engine.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <chrono>
#include <filesystem>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/flops_counter.h"
#include "core/pruning/group_sensitivity.h"
#include "core/pruning/importance_criterion.h"
#include "core/pruning/inlined_forward.h"
#include "core/pruning/latency_search.h"
#include "core/pruning/module_surgery.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {

namespace {

// The shapes of the tensors forward returns (one, or the tensors of a
// tuple such as GoogLeNet's outputs).
absl::StatusOr<std::vector<std::vector<int64_t>>> OutputShapes(
    const torch::jit::Module& module, const std::vector<int64_t>& shape) {
  try {
    internal::ScopedEvalMode eval(module);
    torch::jit::GraphOptimizerEnabledGuard no_optimizer(false);
    torch::jit::Module m = module;
    auto out = m.forward({torch::zeros(shape)});
    std::vector<std::vector<int64_t>> shapes;
    if (out.isTensor()) {
      shapes.push_back(out.toTensor().sizes().vec());
    } else if (out.isTuple()) {
      for (const auto& e : out.toTupleRef().elements()) {
        if (e.isTensor()) shapes.push_back(e.toTensor().sizes().vec());
      }
    }
    if (shapes.empty()) {
      return absl::InvalidArgumentError(
          "forward must return a tensor or a tuple of tensors");
    }
    return shapes;
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "running forward");
  }
}

// Replaces every tensor attribute of `work` that is still one of
// `original`'s tensors with a copy, so the two modules share nothing. Copies
// are made under no_grad (leaves, no CloneBackward) and keep requires_grad,
// so the result fine-tunes normally.
absl::Status OwnTensors(const torch::jit::Module& original,
                        torch::jit::Module& work) {
  try {
    // Compared by storage: the clone may wrap the same memory in new
    // tensor objects.
    std::unordered_set<const c10::StorageImpl*> theirs;
    for (const auto& m : original.modules()) {
      for (const auto& slot : m._ivalue()->slots()) {
        if (slot.isTensor() && slot.toTensor().has_storage()) {
          theirs.insert(slot.toTensor().storage().unsafeGetStorageImpl());
        }
      }
    }
    torch::NoGradGuard no_grad;
    for (const auto& m : work.modules()) {
      const auto& obj = m._ivalue();
      for (size_t i = 0; i < obj->slots().size(); ++i) {
        const c10::IValue& slot = obj->getSlot(i);
        if (!slot.isTensor()) continue;
        const torch::Tensor t = slot.toTensor();
        if (!t.defined() || !t.has_storage() ||
            !theirs.count(t.storage().unsafeGetStorageImpl())) {
          continue;
        }
        torch::Tensor copy = t.detach().clone();
        copy.set_requires_grad(t.requires_grad());
        obj->setSlot(i, copy);
      }
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "copying the module's tensors",
                              absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

// budgeted with a latency target: the MAC target of the stage, searched
// on pruned clones of `work` timed by the options' meter (or the CPU one).
absl::StatusOr<LatencySearchResult> SearchLatencyTarget(
    const torch::jit::Module& work, const std::vector<int64_t>& input_shape,
    const PruningOptions& options, const ChannelDependencyGraph& graph,
    const std::vector<std::vector<double>>& scores,
    const std::vector<std::string>& errors,
    const std::optional<SparsityProfile>& profile, const PolicyOptions& stage,
    const SensitivityProfile& measured) {
  std::unique_ptr<LatencyMeter> cpu_meter;
  LatencyMeter* meter = options.latency_meter;
  if (meter == nullptr) {
    cpu_meter = MakeTorchLatencyMeter();
    meter = cpu_meter.get();
  }
  auto masks_for = [&](double f) -> absl::StatusOr<KeepMasks> {
    PolicyOptions probe = stage;
    probe.target_flops_reduction = f;
    auto plan = PlanPruning(graph, scores, errors,
                            profile ? &*profile : nullptr, probe, &measured);
    if (!plan.ok()) return plan.status();
    return plan->masks();
  };
  LatencySearchOptions search;
  search.target_reduction = options.policy.target_latency_reduction;
  search.min_flops_reduction = stage.target_flops_reduction;
  return SearchFlopsForLatency(work, input_shape, masks_for, *meter, search);
}

}  // namespace

absl::StatusOr<v1::PruningReport> PruneModuleInPlace(
    torch::jit::Module& work, const std::vector<int64_t>& input_shape,
    const PruningOptions& options, data::BatchSource* calibration) {
  const auto start = std::chrono::steady_clock::now();
  if (auto valid = ValidatePolicyOptions(options.policy); !valid.ok()) {
    return valid;
  }
  auto criterion = MakeCriterion(options.criterion);
  if (!criterion.ok()) return criterion.status();
  auto analysis = ChannelDependencyGraph::Build(work, input_shape);
  if (!analysis.ok()) return analysis.status();
  ChannelDependencyGraph& graph = **analysis;
  // The analysis run recorded every shape: the dense model's cost and
  // output shapes come from it, without another forward pass.
  auto before = internal::CostFromShapes(graph.forward(), graph.shapes());
  if (!before.ok()) return before.status();
  std::vector<std::vector<int64_t>> out_shape;
  for (const torch::jit::Value* v : graph.forward().graph()->outputs()) {
    std::vector<const torch::jit::Value*> tensors = {v};
    if (v->node()->kind() == c10::prim::TupleConstruct) {
      tensors.assign(v->node()->inputs().begin(), v->node()->inputs().end());
    }
    for (const torch::jit::Value* t : tensors) {
      auto it = graph.shapes().find(t);
      if (it != graph.shapes().end()) out_shape.push_back(it->second);
    }
  }

  std::optional<SparsityProfile> profile;
  if (calibration != nullptr) {
    auto measured =
        LayerSparsityProbe::Measure(graph, *calibration, options.probe);
    if (!measured.ok()) return measured.status();
    profile = std::move(*measured);
  }
  CriterionContext context{&graph, profile ? &*profile : nullptr, options.seed};
  std::vector<std::vector<double>> scores(graph.groups().size());
  std::vector<std::string> errors(graph.groups().size());
  // bn_gamma on a group without BatchNorm scores it by its filters' L1 norm
  // (said per layer in the report) rather than leaving it unpruned.
  std::unique_ptr<ImportanceCriterion> fallback;
  if (options.criterion == CriterionKind::kBnGamma) {
    fallback = *MakeCriterion(CriterionKind::kL1);
  }
  std::vector<std::string> criterion_used(graph.groups().size());
  for (const ChannelGroup& g : graph.groups()) {
    if (!g.prunable) continue;
    auto s = (*criterion)->Score(g, context);
    if (!s.ok() && fallback != nullptr && g.batch_norms.empty() &&
        absl::IsFailedPrecondition(s.status())) {
      s = fallback->Score(g, context);
      criterion_used[g.id] = "l1 (no BatchNorm)";
    }
    if (s.ok()) {
      scores[g.id] = std::move(*s);
    } else {
      errors[g.id] = std::string(s.status().message());
    }
  }
  std::optional<SensitivityProfile> sensitivity;
  std::optional<LatencySearchResult> latency;
  absl::StatusOr<PruningPlan> plan;
  if (PolicyMeasuresSensitivity(options.policy.kind)) {
    if (calibration == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(PolicyKindName(options.policy.kind),
                       " needs labelled calibration data"));
    }
    const std::vector<bool> eligible =
        EligibleGroups(graph, scores, options.policy);
    // A latency target is searched for on one damage measurement.
    const int stages = options.policy.target_latency_reduction > 0.0
                           ? 1
                           : std::max(1, options.policy.sensitivity_stages);
    std::vector<int64_t> removed;  // by the stages so far
    PolicyOptions stage = options.policy;
    for (int s = 1; s <= stages; ++s) {
      auto measured =
          MeasureGroupSensitivity(work, graph, scores, eligible, stage,
                                  *calibration, options.probe, removed);
      if (!measured.ok()) return measured.status();
      // The cost targets of the stages are evenly spaced up to the goal.
      stage.target_flops_reduction =
          options.policy.target_flops_reduction * s / stages;
      stage.target_params_reduction =
          options.policy.target_params_reduction * s / stages;
      if (options.policy.target_latency_reduction > 0.0) {
        auto found =
            SearchLatencyTarget(work, input_shape, options, graph, scores,
                                errors, profile, stage, *measured);
        if (!found.ok()) return found.status();
        stage.target_flops_reduction = found->flops_reduction;
        latency = *found;
      }
      plan = PlanPruning(graph, scores, errors, profile ? &*profile : nullptr,
                         stage, &*measured);
      if (!plan.ok()) return plan.status();
      removed.assign(graph.groups().size(), 0);
      for (size_t g = 0; g < removed.size(); ++g) {
        const auto& keep = plan->groups[g].keep;
        removed[g] = std::count(keep.begin(), keep.end(), false);
      }
      const int64_t evaluations =
          sensitivity ? sensitivity->evaluations : int64_t{0};
      const double ms = sensitivity ? sensitivity->elapsed_ms : 0.0;
      const double base_loss =
          sensitivity ? sensitivity->base_loss : measured->base_loss;
      sensitivity = std::move(*measured);
      sensitivity->evaluations += evaluations;
      sensitivity->elapsed_ms += ms;
      sensitivity->base_loss = base_loss;
    }
  } else {
    plan = PlanPruning(graph, scores, errors, profile ? &*profile : nullptr,
                       options.policy);
  }
  if (!plan.ok()) return plan.status();

  v1::PruningReport report;
  report.set_policy(PolicyKindName(options.policy.kind));
  report.set_criterion(CriterionKindName(options.criterion));
  for (int64_t d : input_shape) report.add_input_shape(d);
  report.set_calibration_examples(profile ? profile->examples : 0);
  report.set_ratio_scale(plan->ratio_scale);
  report.set_refined_rule(plan->refined_rule);
  if (sensitivity) {
    report.set_base_loss(sensitivity->base_loss);
    report.set_sensitivity_evaluations(sensitivity->evaluations);
    report.set_sensitivity_ms(sensitivity->elapsed_ms);
  }
  if (latency) {
    report.set_latency_dense_ms(latency->dense_ms);
    report.set_latency_pruned_ms(latency->pruned_ms);
    report.set_latency_flops_target(latency->flops_reduction);
    report.set_latency_probes(latency->probes);
    if (!latency->reached) {
      report.add_warnings(absl::StrCat(
          "latency target not reached: ", latency->pruned_ms, " ms against ",
          latency->dense_ms, " ms dense at the largest MAC target tried (",
          latency->flops_reduction, ")"));
    }
  }
  for (const ChannelGroup& g : graph.groups()) {
    const GroupDecision& d = plan->groups[g.id];
    // Groups of the classifier output are frozen by design; not worth a row.
    if (!g.prunable && g.frozen_reason == "model output") continue;
    auto* layer = report.add_layers();
    layer->set_name(g.name);
    for (const auto& p : g.producers) layer->add_producers(p);
    layer->set_channels_before(static_cast<int64_t>(g.channels.size()));
    layer->set_channels_after(std::count(d.keep.begin(), d.keep.end(), true));
    layer->set_sparsity(d.sparsity);
    layer->set_ratio(d.ratio);
    layer->set_threshold(d.threshold);
    layer->set_skip_reason(d.skip_reason);
    layer->set_criterion(criterion_used[g.id]);
    for (size_t i = 0; i < d.damage.removed.size(); ++i) {
      layer->add_damage_removed(d.damage.removed[i]);
      layer->add_damage(d.damage.damage[i]);
    }
  }
  for (const auto& w : plan->warnings) report.add_warnings(w);

  const KeepMasks masks = plan->masks();
  // MACs after pruning: the dense count minus what the removed channels
  // cost, from the layer geometry of the same run.
  const int64_t removed_macs =
      EstimateMacs(graph, KeepAll(graph)) - EstimateMacs(graph, masks);
  auto surgery = ApplyChannelPruning(graph, masks);
  if (!surgery.ok()) return surgery.status();
  for (const auto& w : surgery->warnings) report.add_warnings(w);

  if (options.verify) {
    auto pruned_shape = OutputShapes(work, input_shape);
    if (!pruned_shape.ok()) {
      return absl::InternalError(absl::StrCat("pruned model does not run: ",
                                              pruned_shape.status().message()));
    }
    if (*pruned_shape != out_shape) {
      return absl::InternalError("pruned model changed the output shape");
    }
  }
  int64_t params_after = 0;
  for (const auto& p : work.parameters(/*recurse=*/true)) {
    params_after += p.numel();
  }
  report.set_params_before(before->total_params);
  report.set_params_after(params_after);
  report.set_flops_before(before->total_macs);
  report.set_flops_after(before->total_macs - removed_macs);
  report.set_elapsed_ms(std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count());
  return report;
}

absl::StatusOr<PruningResult> PruneModule(
    const torch::jit::Module& module, const std::vector<int64_t>& input_shape,
    const PruningOptions& options, data::BatchSource* calibration) {
  const auto start = std::chrono::steady_clock::now();
  torch::jit::Module work;
  try {
    // New class types and objects, the caller's tensors: the surgery
    // replaces the tensors it slices, and OwnTensors() copies the rest.
    work = module.clone(/*inplace=*/true);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "copying the module",
                              absl::StatusCode::kInternal);
  }
  auto report = PruneModuleInPlace(work, input_shape, options, calibration);
  if (!report.ok()) return report.status();
  if (auto owned = OwnTensors(module, work); !owned.ok()) return owned;
  report->set_elapsed_ms(std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - start)
                             .count());
  return PruningResult{work, *std::move(report)};
}

absl::StatusOr<v1::PruningReport> PruneTorchScriptFile(
    const std::string& input_path, const std::string& output_path,
    const std::vector<int64_t>& input_shape, const PruningOptions& options,
    data::BatchSource* calibration) {
  if (!std::filesystem::exists(input_path)) {
    return absl::NotFoundError(absl::StrCat("no such model: ", input_path));
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(input_path);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("loading ", input_path));
  }
  // The loaded module is ours alone: pruned in place, without a copy.
  auto report = PruneModuleInPlace(module, input_shape, options, calibration);
  if (!report.ok()) return report.status();
  try {
    module.save(output_path);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("saving ", output_path),
                              absl::StatusCode::kInternal);
  }
  return report;
}

}  // namespace pruneserve::pruning
