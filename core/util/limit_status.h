// Admission refusals as statuses. A request refused because it exceeds a
// configured limit gets a status that carries the limit's name as a payload,
// so the layer that owns the metrics can count refusals per limit without
// parsing messages, whichever module produced the refusal.
#ifndef PRUNESERVE_CORE_UTIL_LIMIT_STATUS_H_
#define PRUNESERVE_CORE_UTIL_LIMIT_STATUS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pruneserve {

// A `code` status (RESOURCE_EXHAUSTED or INVALID_ARGUMENT as the caller
// chooses) whose message is `message` and whose payload names `limit`
// (the flag or option name, e.g. "max_request_bytes"). The message should
// name the limit too: clients see only the message.
absl::Status LimitExceededError(absl::StatusCode code, absl::string_view limit,
                                absl::string_view message);

// The limit a status from LimitExceededError names; nullopt for any other
// status.
std::optional<std::string> ExceededLimit(const absl::Status& status);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_LIMIT_STATUS_H_
