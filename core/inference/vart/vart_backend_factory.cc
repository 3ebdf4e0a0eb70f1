// See vart_backend_factory.h.
#include "core/inference/vart/vart_backend_factory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/inference/torch_backend.h"

namespace pruneserve::inference {

absl::StatusOr<std::map<std::string, std::string>> ParseVartRunnerLibs(
    const std::vector<std::string>& entries) {
  std::map<std::string, std::string> libs;
  for (const std::string& entry : entries) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("runner library entry \"", entry,
                       "\" is not DEVICE=LIBRARY (e.g. DPU=librunner.so)"));
    }
    const std::string device = entry.substr(0, eq);
    if (!libs.emplace(device, entry.substr(eq + 1)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "runner library entry \"", entry, "\" repeats device ", device));
    }
  }
  return libs;
}

BackendFactory MakeVartBackendFactory(VartBackendOptions vart) {
  return [vart = std::move(vart)](const v1::ModelVersion& model,
                                  const std::string& blob_path)
             -> absl::StatusOr<std::unique_ptr<InferenceBackend>> {
    switch (model.format()) {
      case v1::MODEL_FORMAT_XMODEL: {
        VartBackendOptions options = vart;
        options.xmodel_path = blob_path;
        return CreateVartBackend(std::move(options));
      }
      case v1::MODEL_FORMAT_TORCHSCRIPT: {
        TorchBackendOptions options;
        options.path = blob_path;
        options.example_input_shape.assign(model.example_input_shape().begin(),
                                           model.example_input_shape().end());
        auto backend = TorchBackend::Create(options);
        if (!backend.ok()) return backend.status();
        return std::unique_ptr<InferenceBackend>(*std::move(backend));
      }
      default:
        return absl::UnimplementedError(absl::StrCat(
            "no inference backend for ", v1::ModelFormat_Name(model.format())));
    }
  };
}

}  // namespace pruneserve::inference
