// Describes the layer widths of a (pruned) TorchScript CNN in a JSON file a
// Python script can use to rebuild the narrow model as an nn.Module: for
// every convolution, BatchNorm and linear layer, its module path and the
// hyper-parameters a constructor needs. Channel counts come from the weight
// shapes (the truth after pruning); stride, padding, dilation and groups come
// from the module's attributes when it has them (scripted torch.nn layers and
// the model zoo do).
//
// The JSON ("format": "pruneserve.channel_config.v1") holds
//   {"layers": [{"path": "features.0", "kind": "conv", "in_channels": 1,
//                "out_channels": 16, "kernel_size": [3, 3], "stride": [1, 1],
//                "padding": [1, 1], "dilation": [1, 1], "groups": 1,
//                "bias": false, "transposed": false, "type": "<class>"},
//               {"path": "features.1", "kind": "batchnorm",
//                "num_features": 16, "affine": true, "type": "<class>"},
//               {"path": "fc", "kind": "linear", "in_features": 16,
//                "out_features": 10, "bias": true, "type": "<class>"}]}
// Keys whose value the module does not record are left out.
#ifndef PRUNESERVE_CORE_EXPORT_CHANNEL_CONFIG_H_
#define PRUNESERVE_CORE_EXPORT_CHANNEL_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace pruneserve::vitis {

// Returns the channel configuration of `module` as pretty-printed JSON, layers
// in module-definition order. A layer is a submodule that owns a tensor
// `weight` (conv: 3+ dims, linear: 2 dims) or `running_mean` and
// `running_var` buffers (BatchNorm). INVALID_ARGUMENT when the module holds
// no such layer (e.g. its weights are attributes of the root module only).
// Reads the module; does not run it. Not safe to call while another thread
// mutates the module.
absl::StatusOr<std::string> ChannelConfigJson(const torch::jit::Module& module);

}  // namespace pruneserve::vitis

#endif  // PRUNESERVE_CORE_EXPORT_CHANNEL_CONFIG_H_
