#include "core/util/limit_status.h"

#include "absl/strings/cord.h"

namespace pruneserve {
namespace {

constexpr char kLimitPayload[] = "type.pruneserve/ExceededLimit";

}  // namespace

absl::Status LimitExceededError(absl::StatusCode code, absl::string_view limit,
                                absl::string_view message) {
  absl::Status status(code, message);
  status.SetPayload(kLimitPayload, absl::Cord(limit));
  return status;
}

std::optional<std::string> ExceededLimit(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  auto payload = status.GetPayload(kLimitPayload);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

}  // namespace pruneserve
