#include "core/util/torch_status.h"

#include <c10/util/Exception.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace pruneserve {

absl::Status TorchErrorToStatus(const std::exception& e,
                                absl::string_view context,
                                absl::StatusCode code) {
  std::string msg;
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    msg = c10_error->what_without_backtrace();
  } else {
    msg = e.what();
  }
  // TorchScript errors carry a multi-line source excerpt; keep a compact
  // version: the first non-empty lines up to a sane length.
  std::string compact;
  for (absl::string_view line : absl::StrSplit(msg, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!compact.empty()) compact += " | ";
    absl::StrAppend(&compact, line);
    if (compact.size() > 400) break;
  }
  return absl::Status(code, absl::StrCat(context, ": ", compact));
}

}  // namespace pruneserve
