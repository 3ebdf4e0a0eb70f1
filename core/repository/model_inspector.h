// Format-specific validation of uploaded model bytes. The repository calls
// the inspector for the upload's format on the sealed temp file, before the
// bytes become visible; an error there means nothing is stored.
#ifndef PRUNESERVE_CORE_REPOSITORY_MODEL_INSPECTOR_H_
#define PRUNESERVE_CORE_REPOSITORY_MODEL_INSPECTOR_H_

#include <string>

#include "absl/status/status.h"
#include "pruneserve/v1/model.pb.h"

namespace pruneserve {

// Implementations must be thread-safe: concurrent uploads inspect at once.
class ModelInspector {
 public:
  virtual ~ModelInspector() = default;

  // Validates the file at `path` and fills what it learns into `model`
  // (parameter counts, input count, and output shape / FLOPs when
  // model->example_input_shape() is set). INVALID_ARGUMENT naming the problem
  // when the bytes are not a valid model of this format. Blocks.
  virtual absl::Status Inspect(const std::string& path,
                               v1::ModelVersion* model) const = 0;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_REPOSITORY_MODEL_INSPECTOR_H_
