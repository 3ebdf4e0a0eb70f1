// Damage curves by masking: consumer columns zeroed step by step up the
// ladder (the removed sets are nested), one forward pass per step.
#include "core/pruning/group_sensitivity.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <chrono>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/data/batch_source.h"
#include "core/pruning/inlined_forward.h"
#include "core/pruning/layer_sparsity_probe.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {
namespace {

struct Example {
  torch::Tensor images;
  torch::Tensor labels;
};

absl::StatusOr<std::vector<Example>> ReadExamples(
    data::BatchSource& source, const SparsityProbeOptions& probe) {
  std::vector<Example> out;
  auto seen =
      ForEachCalibrationBatch(source, probe, [&](const data::Batch& batch) {
        out.push_back({batch.images, batch.labels.to(torch::kLong)});
        return absl::OkStatus();
      });
  if (!seen.ok()) return seen.status();
  return out;
}

// The module's mean damage measure over the examples: cross-entropy against
// the labels, or, with `reference` given (one log-probability tensor per
// example batch), the KL divergence of its outputs from those. When `keep`
// is given it receives the log-probabilities. Runs in the caller's
// eval/no-grad scope.
absl::StatusOr<double> MeanLoss(torch::jit::Module& module,
                                const std::vector<Example>& examples,
                                const std::vector<torch::Tensor>* reference,
                                std::vector<torch::Tensor>* keep = nullptr) {
  double total = 0.0;
  int64_t n = 0;
  try {
    for (size_t i = 0; i < examples.size(); ++i) {
      const Example& e = examples[i];
      c10::IValue out = module.forward({e.images});
      if (out.isTuple()) out = out.toTupleRef().elements().at(0);
      if (!out.isTensor()) {
        return absl::InvalidArgumentError(
            "sensitivity needs forward to return logits");
      }
      const torch::Tensor logits = out.toTensor();
      if (logits.dim() != 2 || logits.size(0) != e.labels.size(0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sensitivity needs [N, classes] logits; got ",
            c10::str(logits.sizes()), " for ", e.labels.size(0), " labels"));
      }
      const torch::Tensor log_probs =
          torch::log_softmax(logits.to(torch::kFloat), 1);
      if (keep != nullptr) keep->push_back(log_probs);
      if (reference != nullptr) {
        total += torch::kl_div(log_probs, reference->at(i), at::Reduction::Sum,
                               /*log_target=*/true)
                     .item<double>();
      } else {
        total += torch::nll_loss(log_probs, e.labels, {}, at::Reduction::Sum)
                     .item<double>();
      }
      n += e.labels.size(0);
    }
  } catch (const std::exception& err) {
    return TorchErrorToStatus(err, "measuring the calibration loss");
  }
  return total / static_cast<double>(n);
}

bool ReadsChannel(SliceRole role) { return role == SliceRole::kConsumerWeight; }

bool MakesChannel(SliceRole role) {
  return role == SliceRole::kProducerWeight ||
         role == SliceRole::kProducerBias ||
         role == SliceRole::kBatchNormWeight ||
         role == SliceRole::kBatchNormBias ||
         role == SliceRole::kDepthwiseWeight ||
         role == SliceRole::kDepthwiseBias;
}

// The slices to zero to take out one coupled channel.
std::vector<const TensorSlice*> MaskSlices(const CoupledChannel& channel,
                                           bool by_consumers) {
  std::vector<const TensorSlice*> out;
  for (const TensorSlice& s : channel.slices) {
    if (by_consumers ? ReadsChannel(s.role) : MakesChannel(s.role)) {
      out.push_back(&s);
    }
  }
  return out;
}

// One tensor attribute of a module, replaced by a copy while this object
// lives; the destructor puts the original back.
class TensorSlot {
 public:
  // The slot at dotted `path` ("features.3.weight"), swapped for a copy.
  // Internal when the path names no tensor of `root`.
  static absl::StatusOr<TensorSlot> Find(const torch::jit::Module& root,
                                         const std::string& path) {
    try {
      torch::jit::Module owner = root;
      std::vector<std::string> parts = absl::StrSplit(path, '.');
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        owner = owner.attr(parts[i]).toModule();
      }
      c10::intrusive_ptr<c10::ivalue::Object> object = owner._ivalue();
      const size_t slot = object->type()->getAttributeSlot(parts.back());
      const c10::IValue value = object->getSlot(slot);
      if (!value.isTensor()) {
        return absl::InternalError(absl::StrCat(path, " is not a tensor"));
      }
      TensorSlot out;
      out.object_ = std::move(object);
      out.slot_ = slot;
      out.original_ = value.toTensor();
      out.copy_ = out.original_.detach().clone();
      out.object_->setSlot(slot, out.copy_);
      return out;
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("no tensor ", path, " in the module: ", e.what()));
    }
  }
  TensorSlot(TensorSlot&& other) noexcept = default;
  TensorSlot& operator=(TensorSlot&&) = delete;
  ~TensorSlot() {
    if (object_) object_->setSlot(slot_, original_);
  }

  torch::Tensor& copy() { return copy_; }

 private:
  TensorSlot() = default;
  c10::intrusive_ptr<c10::ivalue::Object> object_;
  size_t slot_ = 0;
  torch::Tensor original_;
  torch::Tensor copy_;
};

// Takes out channels order[from, to) of `g` by zeroing their mask slices
// in copies swapped into `module` (kept in `swapped`, which puts the
// originals back when cleared).
absl::Status MaskChannels(torch::jit::Module& module, const ChannelGroup& g,
                          const std::vector<int64_t>& order, size_t from,
                          size_t to,
                          std::map<std::string, TensorSlot>& swapped) {
  bool by_consumers = false;
  for (const CoupledChannel& c : g.channels) {
    by_consumers = by_consumers || !MaskSlices(c, true).empty();
  }
  try {
    for (size_t i = from; i < to; ++i) {
      for (const TensorSlice* s :
           MaskSlices(g.channels[order[i]], by_consumers)) {
        auto it = swapped.find(*s->tensor);
        if (it == swapped.end()) {
          auto slot = TensorSlot::Find(module, *s->tensor);
          if (!slot.ok()) return slot.status();
          it = swapped.emplace(*s->tensor, std::move(*slot)).first;
        }
        it->second.copy().narrow(s->dim, s->index, s->count).zero_();
      }
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("masking ", g.name),
                              absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

// Every BatchNorm of `module` switched to batch statistics, its running
// statistics swapped for copies that the training-mode forward may update
// (returned; destroying them puts the originals back). Call inside a
// ScopedEvalMode, which restores the training flags.
absl::StatusOr<std::vector<TensorSlot>> UseBatchStatistics(
    torch::jit::Module& module) {
  std::vector<TensorSlot> slots;
  try {
    for (const auto& named : module.named_modules()) {
      torch::jit::Module m = named.value;
      if (!m.hasattr("running_mean") || !m.hasattr("running_var") ||
          !m.attr("running_mean").isTensor()) {
        continue;
      }
      const std::string prefix =
          named.name.empty() ? "" : absl::StrCat(named.name, ".");
      for (const char* buffer :
           {"running_mean", "running_var", "num_batches_tracked"}) {
        if (!m.hasattr(buffer) || !m.attr(buffer).isTensor()) continue;
        auto slot = TensorSlot::Find(module, absl::StrCat(prefix, buffer));
        if (!slot.ok()) return slot.status();
        slots.push_back(std::move(*slot));
      }
      m.train(true);
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "switching BatchNorm to batch statistics",
                              absl::StatusCode::kInternal);
  }
  return slots;
}

}  // namespace

absl::StatusOr<SensitivityProfile> MeasureGroupSensitivity(
    torch::jit::Module& module, const ChannelDependencyGraph& analysis,
    const std::vector<std::vector<double>>& scores,
    const std::vector<bool>& eligible, const PolicyOptions& policy,
    data::BatchSource& calibration, const SparsityProbeOptions& probe,
    const std::vector<int64_t>& already_removed) {
  const auto start = std::chrono::steady_clock::now();
  auto examples = ReadExamples(calibration, probe);
  if (!examples.ok()) return examples.status();
  internal::ScopedEvalMode eval(module);
  torch::jit::GraphOptimizerEnabledGuard no_optimizer(false);
  std::vector<TensorSlot> running_statistics;
  if (policy.sensitivity_batch_statistics) {
    // A short last batch would normalise by few examples' statistics (and
    // a one-example batch cannot be normalised after a global pool): it
    // joins the batch before it.
    if (examples->size() >= 2 &&
        examples->back().labels.size(0) < examples->front().labels.size(0)) {
      Example last = std::move(examples->back());
      examples->pop_back();
      Example& prev = examples->back();
      try {
        prev.images = torch::cat({prev.images, last.images});
        prev.labels = torch::cat({prev.labels, last.labels});
      } catch (const std::exception& e) {
        return TorchErrorToStatus(e, "joining the last calibration batch");
      }
    }
    auto slots = UseBatchStatistics(module);
    if (!slots.ok()) return slots.status();
    running_statistics = std::move(*slots);
  }
  const auto& groups = analysis.groups();
  auto scored = [&](const ChannelGroup& g) {
    return eligible[g.id] && scores[g.id].size() == g.channels.size();
  };
  auto before = [&](const ChannelGroup& g) -> int64_t {
    return already_removed.empty() ? 0 : already_removed[g.id];
  };
  // What earlier stages removed stays masked for the whole measurement.
  std::map<std::string, TensorSlot> earlier;
  for (const ChannelGroup& g : groups) {
    if (!scored(g) || before(g) <= 0) continue;
    if (auto s = MaskChannels(module, g, RemovalOrder(scores[g.id]), 0,
                              before(g), earlier);
        !s.ok()) {
      return s;
    }
  }
  SensitivityProfile profile;
  profile.groups.resize(groups.size());
  for (const Example& e : *examples) profile.examples += e.labels.size(0);
  // With sensitivity_output_divergence the base outputs are the reference
  // every damage is measured against, from zero divergence.
  std::vector<torch::Tensor> base_outputs;
  const std::vector<torch::Tensor>* reference =
      policy.sensitivity_output_divergence ? &base_outputs : nullptr;
  auto base = MeanLoss(module, *examples, nullptr,
                       reference != nullptr ? &base_outputs : nullptr);
  if (!base.ok()) return base.status();
  profile.base_loss = *base;
  const double damage_origin = reference != nullptr ? 0.0 : *base;
  ++profile.evaluations;

  for (const ChannelGroup& g : groups) {
    if (!scored(g)) continue;
    DamageCurve& curve = profile.groups[g.id];
    curve.removed = {before(g)};
    for (int64_t k : RemovalLadder(static_cast<int64_t>(g.channels.size()),
                                   policy.sensitivity_steps, policy)) {
      if (k > before(g)) curve.removed.push_back(k);
    }
    curve.damage.assign(1, 0.0);
    const std::vector<int64_t> order = RemovalOrder(scores[g.id]);
    // This group's masks go on copies of the (possibly already masked)
    // tensors, put back before the next group.
    std::map<std::string, TensorSlot> swapped;
    for (size_t step = 1; step < curve.removed.size(); ++step) {
      if (auto s = MaskChannels(module, g, order, curve.removed[step - 1],
                                curve.removed[step], swapped);
          !s.ok()) {
        return s;
      }
      auto loss = MeanLoss(module, *examples, reference);
      ++profile.evaluations;
      if (!loss.ok()) return loss.status();
      curve.damage.push_back(*loss - damage_origin);
    }
  }
  profile.elapsed_ms = std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - start)
                           .count();
  return profile;
}

}  // namespace pruneserve::pruning
