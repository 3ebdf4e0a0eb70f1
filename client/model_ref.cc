#include "client/model_ref.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pruneserve::client {

absl::StatusOr<ModelRef> ParseModelRef(const std::string& text) {
  ModelRef ref;
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  ref.name = parts[0];
  if (parts.size() > 2 ||
      (parts.size() == 2 &&
       (!absl::SimpleAtoi(parts[1], &ref.version) || ref.version <= 0))) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not NAME or NAME:VERSION"));
  }
  return ref;
}

}  // namespace pruneserve::client
