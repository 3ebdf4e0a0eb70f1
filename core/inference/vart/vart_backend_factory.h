// How the server builds backends when it is configured for particular VART
// runner libraries (--vart_runner_lib): a ModelManager backend factory that
// opens xmodels with those libraries and TorchScript archives as the
// built-in path does. Built only with -DPRUNESERVE_WITH_VART=ON.
#ifndef PRUNESERVE_CORE_INFERENCE_VART_VART_BACKEND_FACTORY_H_
#define PRUNESERVE_CORE_INFERENCE_VART_VART_BACKEND_FACTORY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/inference/model_manager.h"
#include "core/inference/vart/vart_backend.h"

namespace pruneserve::inference {

// Parses "DEVICE=LIBRARY" entries (e.g. "DPU=libvart-dpu-runner.so" or
// "DPU=/opt/runners/librunner.so") into a device -> library map.
// INVALID_ARGUMENT naming the entry when one has no '=', an empty side, or
// repeats a device.
absl::StatusOr<std::map<std::string, std::string>> ParseVartRunnerLibs(
    const std::vector<std::string>& entries);

// A BackendFactory for ModelManagerOptions: xmodels get
// CreateVartBackend(`vart` with xmodel_path set), TorchScript archives a
// TorchBackend with the model's example input shape (as ModelManager's
// built-in path), other formats UNIMPLEMENTED. The factory is copyable and
// thread-safe.
BackendFactory MakeVartBackendFactory(VartBackendOptions vart);

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_VART_VART_BACKEND_FACTORY_H_
