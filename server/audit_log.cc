#include "server/audit_log.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"

namespace pruneserve {
namespace {

// Caller-supplied text in a log line: printable ASCII only, bounded.
std::string Clean(absl::string_view s) {
  constexpr size_t kMax = 200;
  std::string out = absl::CHexEscape(s.substr(0, kMax));
  for (char& c : out) {
    if (c == ' ') c = '_';
  }
  if (out.empty()) out = "-";
  return out;
}

}  // namespace

const char* AuditOutcomeName(AuditOutcome outcome) {
  switch (outcome) {
    case AuditOutcome::kAllowed:
      return "allowed";
    case AuditOutcome::kUnauthenticated:
      return "unauthenticated";
    case AuditOutcome::kPermissionDenied:
      return "permission_denied";
  }
  return "?";
}

AuditLog::AuditLog(AuditLogOptions options)
    : options_(std::move(options)),
      events_(&prometheus::BuildCounter()
                   .Name("pruneserve_rpc_audit_total")
                   .Help("Denied RPCs and allowed state-changing RPCs, by "
                         "method and outcome (allowed, unauthenticated, "
                         "permission_denied)")
                   .Register(*options_.registry)) {}

void AuditLog::Record(const AuditEvent& event) {
  const std::string line = absl::StrCat(
      "pruneserve audit: time=",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", options_.now(),
                       absl::UTCTimeZone()),
      " outcome=", AuditOutcomeName(event.outcome),
      " rpc=", Clean(event.method), " who=", Clean(event.who),
      " role=", Clean(event.role), " peer=", Clean(event.peer),
      event.detail.empty() ? "" : absl::StrCat(" detail=", Clean(event.detail)),
      "\n");
  events_
      ->Add({{"rpc", std::string(event.rpc_label)},
             {"outcome", AuditOutcomeName(event.outcome)}})
      .Increment();
  absl::MutexLock lock(&mu_);
  std::fputs(line.c_str(), options_.sink);
  std::fflush(options_.sink);
}

}  // namespace pruneserve
