// The one table of who may call what: every RPC of every service the server
// registers, mapped to the role it needs (or none: open to all), and whether
// it changes state (such calls are audited even when allowed). The
// authorizer (rpc_authorizer.h) consults nothing else; a method missing from
// the table needs `admin`.
#ifndef PRUNESERVE_SERVER_RPC_ROLES_H_
#define PRUNESERVE_SERVER_RPC_ROLES_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/auth/token_file.h"

namespace pruneserve {

struct RpcRule {
  // Full method path as on the wire: "/package.Service/Method".
  absl::string_view method;
  // Role the caller's token needs; nullopt = open, no token needed.
  std::optional<auth::Role> role;
  // Changes state: allowed calls are audited too.
  bool destructive = false;
  // Besides `role`, only the job's submitter or an admin may go on (checked
  // by RpcAuthorizer::CheckJobOwner in the handler, which knows the job).
  bool submitter_or_admin = false;
};

// All rules, in service order.
absl::Span<const RpcRule> RpcRules();

// The rule of `method` ("/package.Service/Method"), or nullptr when the
// method is not in the table.
const RpcRule* FindRpcRule(absl::string_view method);

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_RPC_ROLES_H_
