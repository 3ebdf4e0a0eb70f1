// Rules for model names. Names appear in file-system-free places only (SQLite
// rows, metric labels, URLs of the KServe API), but we still keep them to a
// conservative, path-safe alphabet so they can never be mistaken for paths.
#ifndef PRUNESERVE_CORE_REPOSITORY_MODEL_NAME_H_
#define PRUNESERVE_CORE_REPOSITORY_MODEL_NAME_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pruneserve {

inline constexpr size_t kMaxModelNameBytes = 128;

// OK when `name` is 1..128 bytes of [A-Za-z0-9._-], does not start with '.'
// or '-', and contains no "..". Otherwise INVALID_ARGUMENT saying which rule
// failed (control characters and '/' are named explicitly).
absl::Status ValidateModelName(absl::string_view name);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_REPOSITORY_MODEL_NAME_H_
