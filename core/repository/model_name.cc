#include "core/repository/model_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pruneserve {

absl::Status ValidateModelName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("model name is empty");
  if (name.size() > kMaxModelNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name is ", name.size(), " bytes; the limit is ",
                     kMaxModelNameBytes));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "model name contains control character 0x%02x at byte %d", c, i));
    }
    if (c == '/' || c == '\\') {
      return absl::InvalidArgumentError(
          absl::StrCat("model name \"", name, "\" contains a path separator"));
    }
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "model name \"%s\" contains '%c'; allowed are letters, digits, "
          "'.', '_' and '-'",
          name, c));
    }
  }
  if (absl::StrContains(name, "..")) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name \"", name, "\" contains \"..\""));
  }
  if (name[0] == '.' || name[0] == '-') {
    return absl::InvalidArgumentError(absl::StrCat(
        "model name \"", name, "\" must start with a letter, digit or '_'"));
  }
  return absl::OkStatus();
}

}  // namespace pruneserve
