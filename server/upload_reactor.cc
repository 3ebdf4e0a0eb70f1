#include "server/upload_reactor.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace pruneserve {

std::string IdleStreamMessage(absl::string_view what, absl::Duration idle) {
  return absl::StrCat(what, " for ", absl::FormatDuration(idle),
                      " (--upload_idle_timeout_seconds); the stream is closed");
}

}  // namespace pruneserve
