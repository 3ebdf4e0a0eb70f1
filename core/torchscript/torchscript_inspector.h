// Validates uploaded TorchScript archives by loading them with LibTorch and
// records what a client would want to know before using the model:
// parameter count and bytes, forward()'s input count and, for an example
// input shape, the output shape and the multiply-accumulate count.
#ifndef PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_INSPECTOR_H_
#define PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_INSPECTOR_H_

#include <cstdint>
#include <string>

#include "core/repository/model_inspector.h"

namespace pruneserve {

struct TorchScriptInspectorOptions {
  // Largest example input (elements) the inspector will run a forward pass
  // on; a bigger example shape is INVALID_ARGUMENT rather than an OOM.
  int64_t max_example_elements = int64_t{1} << 26;
};

// Thread-safe: each Inspect() loads its own module copy.
class TorchScriptInspector : public ModelInspector {
 public:
  explicit TorchScriptInspector(TorchScriptInspectorOptions options = {})
      : options_(options) {}

  absl::Status Inspect(const std::string& path,
                       v1::ModelVersion* model) const override;

 private:
  TorchScriptInspectorOptions options_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_INSPECTOR_H_
