// The one place LibTorch exceptions become Status. Callers wrap each torch
// call site in try/catch(const std::exception&) and pass the op name and
// shapes as `context`; the message drops c10's C++ backtrace.
#ifndef PRUNESERVE_CORE_UTIL_TORCH_STATUS_H_
#define PRUNESERVE_CORE_UTIL_TORCH_STATUS_H_

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pruneserve {

// Returns `code`-coded Status "context: <torch message>" (first line only of
// c10::Error's message, without its backtrace).
absl::Status TorchErrorToStatus(
    const std::exception& e, absl::string_view context,
    absl::StatusCode code = absl::StatusCode::kInvalidArgument);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_TORCH_STATUS_H_
