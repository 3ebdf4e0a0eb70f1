// "NAME" or "NAME:VERSION", as every prunectl command names a model.
#ifndef PRUNESERVE_CLIENT_MODEL_REF_H_
#define PRUNESERVE_CLIENT_MODEL_REF_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace pruneserve::client {

struct ModelRef {
  std::string name;
  // 0 = latest.
  int64_t version = 0;
};

// INVALID_ARGUMENT for more than one ':' or a version that is not a positive
// integer.
absl::StatusOr<ModelRef> ParseModelRef(const std::string& text);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_MODEL_REF_H_
