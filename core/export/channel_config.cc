#include "core/export/channel_config.h"

#include <torch/script.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/torch_status.h"
#include "nlohmann/json.hpp"

namespace pruneserve::vitis {
namespace {

using json = nlohmann::json;

// An int attribute applies to every spatial dimension (the model zoo's
// convention); a tuple or list of ints is taken as is (torch.nn's).
std::optional<json> IntsAttr(const torch::jit::Module& m,
                             const std::string& name, size_t spatial) {
  if (!m.hasattr(name)) return std::nullopt;
  const c10::IValue v = m.attr(name);
  if (v.isInt()) return json(std::vector<int64_t>(spatial, v.toInt()));
  std::vector<int64_t> out;
  if (v.isTuple()) {
    for (const c10::IValue& e : v.toTupleRef().elements()) {
      if (!e.isInt()) return std::nullopt;
      out.push_back(e.toInt());
    }
    return json(out);
  }
  if (v.isIntList()) return json(v.toIntVector());
  // torch.nn.Conv2d accepts padding="same" / "valid".
  if (v.isString()) return json(v.toStringRef());
  return std::nullopt;
}

std::optional<int64_t> IntAttr(const torch::jit::Module& m,
                               const std::string& name) {
  if (!m.hasattr(name)) return std::nullopt;
  const c10::IValue v = m.attr(name);
  if (!v.isInt()) return std::nullopt;
  return v.toInt();
}

std::optional<at::Tensor> TensorAttr(const torch::jit::Module& m,
                                     const std::string& name) {
  if (!m.hasattr(name)) return std::nullopt;
  const c10::IValue v = m.attr(name);
  if (!v.isTensor()) return std::nullopt;
  return v.toTensor();
}

std::string TypeName(const torch::jit::Module& m) {
  const auto& name = m.type()->name();
  return name ? name->qualifiedName() : std::string();
}

std::optional<json> DescribeLayer(const std::string& path,
                                  const torch::jit::Module& m) {
  json layer;
  layer["path"] = path;
  const std::optional<at::Tensor> weight = TensorAttr(m, "weight");
  const std::optional<at::Tensor> mean = TensorAttr(m, "running_mean");
  const std::optional<at::Tensor> var = TensorAttr(m, "running_var");
  const bool has_bias = TensorAttr(m, "bias").has_value();
  if (mean && var && mean->dim() == 1) {
    layer["kind"] = "batchnorm";
    layer["num_features"] = mean->size(0);
    layer["affine"] = weight.has_value();
  } else if (weight && weight->dim() >= 3) {
    const size_t spatial = static_cast<size_t>(weight->dim() - 2);
    const int64_t groups = IntAttr(m, "groups").value_or(1);
    bool transposed = false;
    if (m.hasattr("transposed") && m.attr("transposed").isBool()) {
      transposed = m.attr("transposed").toBool();
    }
    layer["kind"] = "conv";
    // Weight layout: [out, in/groups, k...], or [in, out/groups, k...] for a
    // transposed conv.
    layer["in_channels"] =
        transposed ? weight->size(0) : weight->size(1) * groups;
    layer["out_channels"] =
        transposed ? weight->size(1) * groups : weight->size(0);
    layer["kernel_size"] = std::vector<int64_t>(weight->sizes().begin() + 2,
                                                weight->sizes().end());
    for (const char* key :
         {"stride", "padding", "dilation", "output_padding"}) {
      if (auto v = IntsAttr(m, key, spatial)) layer[key] = *v;
    }
    layer["groups"] = groups;
    layer["bias"] = has_bias;
    layer["transposed"] = transposed;
  } else if (weight && weight->dim() == 2) {
    layer["kind"] = "linear";
    layer["in_features"] = weight->size(1);
    layer["out_features"] = weight->size(0);
    layer["bias"] = has_bias;
  } else {
    return std::nullopt;
  }
  layer["type"] = TypeName(m);
  return layer;
}

}  // namespace

absl::StatusOr<std::string> ChannelConfigJson(
    const torch::jit::Module& module) {
  json layers = json::array();
  try {
    for (const auto& named : module.named_modules()) {
      if (auto layer = DescribeLayer(named.name, named.value)) {
        layers.push_back(std::move(*layer));
      }
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "reading layer attributes for channel config",
                              absl::StatusCode::kInternal);
  }
  if (layers.empty()) {
    return absl::InvalidArgumentError(
        "the module has no conv, BatchNorm or linear submodules (a layer must "
        "be a submodule owning `weight` or running statistics), so a channel "
        "config cannot describe it");
  }
  json doc;
  doc["format"] = "pruneserve.channel_config.v1";
  doc["layers"] = std::move(layers);
  return doc.dump(2);
}

}  // namespace pruneserve::vitis
