#include "core/pruning/layer_sparsity_probe.h"

#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "core/pruning/inlined_forward.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {

const LayerActivationStats* SparsityProfile::Find(
    const std::string& layer) const {
  for (const LayerActivationStats& s : layers) {
    if (s.layer == layer) return &s;
  }
  return nullptr;
}

absl::StatusOr<int64_t> ForEachCalibrationBatch(
    data::BatchSource& source, const SparsityProbeOptions& options,
    const std::function<absl::Status(const data::Batch&)>& visit) {
  int64_t seen = 0;
  source.StartEpoch(options.epoch);
  while (seen < options.max_examples) {
    auto batch = source.Next();
    if (!batch.ok()) return batch.status();
    if (!batch->has_value()) break;
    const int64_t take = std::min<int64_t>((*batch)->images.size(0),
                                           options.max_examples - seen);
    if (take <= 0) break;
    data::Batch part{(*batch)->images.narrow(0, 0, take),
                     (*batch)->labels.narrow(0, 0, take)};
    if (auto s = visit(part); !s.ok()) return s;
    seen += take;
  }
  if (seen == 0) {
    return absl::FailedPreconditionError("calibration source yielded no data");
  }
  return seen;
}

absl::StatusOr<SparsityProfile> LayerSparsityProbe::Measure(
    const ChannelDependencyGraph& analysis, data::BatchSource& source,
    const Options& options) {
  std::vector<torch::jit::Value*> taps = analysis.layer_inputs();
  if (options.before_pooling) {
    for (torch::jit::Value*& v : taps) {
      const c10::Symbol kind = v->node()->kind();
      if (kind == c10::aten::max_pool2d ||
          kind == c10::aten::adaptive_max_pool2d) {
        v = v->node()->input(0);
      }
    }
  }
  auto tap = analysis.forward().Tap(taps);
  if (!tap.ok()) return tap.status();
  const size_t n = analysis.layers().size();
  std::vector<double> zeros(n, 0.0), elements(n, 0.0);
  std::vector<torch::Tensor> channel_zeros(n);
  std::vector<double> channel_elements(n, 0.0);
  auto seen = ForEachCalibrationBatch(
      source, options, [&](const data::Batch& batch) -> absl::Status {
        auto tensors = (*tap)->Run(batch.images);
        if (!tensors.ok()) return tensors.status();
        try {
          torch::NoGradGuard no_grad;
          for (size_t i = 0; i < n; ++i) {
            torch::Tensor t = (*tensors)[i];
            torch::Tensor z = (t == 0).to(torch::kDouble);
            zeros[i] += z.sum().item<double>();
            elements[i] += static_cast<double>(t.numel());
            torch::Tensor per;
            if (t.dim() == 4) {
              per = z.sum({0, 2, 3});
              channel_elements[i] += static_cast<double>(t.numel() / t.size(1));
            } else if (t.dim() >= 2) {
              per = z.reshape({-1, t.size(-1)}).sum(0);
              channel_elements[i] +=
                  static_cast<double>(t.numel() / t.size(-1));
            } else {
              continue;
            }
            channel_zeros[i] =
                channel_zeros[i].defined() ? channel_zeros[i] + per : per;
          }
        } catch (const std::exception& e) {
          return TorchErrorToStatus(e, "measuring activation sparsity",
                                    absl::StatusCode::kInternal);
        }
        return absl::OkStatus();
      });
  if (!seen.ok()) return seen.status();
  SparsityProfile profile;
  profile.examples = *seen;
  for (size_t i = 0; i < n; ++i) {
    LayerActivationStats s;
    s.layer = analysis.layers()[i].name;
    s.input_sparsity = elements[i] > 0 ? zeros[i] / elements[i] : 0.0;
    if (channel_zeros[i].defined() && channel_elements[i] > 0) {
      torch::Tensor apoz = channel_zeros[i] / channel_elements[i];
      s.channel_apoz.assign(apoz.data_ptr<double>(),
                            apoz.data_ptr<double>() + apoz.numel());
    }
    profile.layers.push_back(std::move(s));
  }
  return profile;
}

}  // namespace pruneserve::pruning
