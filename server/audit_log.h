// AuditLog: one line per denied call and per allowed state-changing call
// (who, which RPC, when, from where, outcome), written to a stream (stderr,
// i.e. the journal, by default), and the counter
// pruneserve_rpc_audit_total{rpc, outcome} in the registry it is given.
#ifndef PRUNESERVE_SERVER_AUDIT_LOG_H_
#define PRUNESERVE_SERVER_AUDIT_LOG_H_

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace pruneserve {

enum class AuditOutcome { kAllowed, kUnauthenticated, kPermissionDenied };

// "allowed", "unauthenticated", "permission_denied".
const char* AuditOutcomeName(AuditOutcome outcome);

struct AuditEvent {
  // Metric label: "Service/Method" from the role table, "unknown" for a
  // method not in it (so callers cannot grow the label set).
  absl::string_view rpc_label;
  // The method path as the caller sent it (escaped and capped in the line).
  absl::string_view method;
  AuditOutcome outcome = AuditOutcome::kAllowed;
  // Token name and role; empty when the caller presented no valid token.
  absl::string_view who;
  absl::string_view role;
  // Transport and address or certificate identity of the peer.
  absl::string_view peer;
  // Why, for denials.
  absl::string_view detail;
};

struct AuditLogOptions {
  // Registry that gets pruneserve_rpc_audit_total. Required.
  std::shared_ptr<prometheus::Registry> registry;
  // Where lines go; not owned. Default stderr.
  FILE* sink = stderr;
  // Clock of the line's timestamp. Default absl::Now.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// Thread-safe; lines are written whole under a mutex.
class AuditLog {
 public:
  explicit AuditLog(AuditLogOptions options);

  // Writes the line and counts the event. Never fails; blocks on the write.
  void Record(const AuditEvent& event);

 private:
  AuditLogOptions options_;
  prometheus::Family<prometheus::Counter>* events_;
  absl::Mutex mu_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_AUDIT_LOG_H_
