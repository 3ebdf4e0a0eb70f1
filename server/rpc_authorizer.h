// RpcAuthorizer: the one place that decides whether a call may proceed. It
// authenticates the `authorization: Bearer <token>` metadata against a
// TokenStore, looks up the role the method needs in the role table
// (rpc_roles.h), and audits every denial and every allowed state-changing
// call. It is installed as the gRPC AuthMetadataProcessor of the server
// credentials, so a denied call never reaches a service handler. The one
// check that needs the target (cancelling someone else's job) is also made
// here, called by the handler with the job's submitter.
//
// Missing or unknown token: UNAUTHENTICATED. Valid token, wrong role:
// PERMISSION_DENIED. Both are decided before the request is read, so
// neither tells the caller whether the model or job it named exists.
#ifndef PRUNESERVE_SERVER_RPC_AUTHORIZER_H_
#define PRUNESERVE_SERVER_RPC_AUTHORIZER_H_

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/auth/token_store.h"
#include "server/audit_log.h"

namespace pruneserve {

// Thread-safe. Borrows the store and the log, which must outlive it and the
// processor it makes.
class RpcAuthorizer {
 public:
  RpcAuthorizer(const auth::TokenStore* tokens, AuditLog* audit)
      : tokens_(tokens), audit_(audit) {}

  // Decides a call to `method` ("/pkg.Service/Method") carrying the given
  // authorization metadata values. OK, UNAUTHENTICATED or
  // PERMISSION_DENIED; audits as described above. Does not block beyond the
  // audit write.
  grpc::Status CheckCall(absl::string_view method,
                         const std::vector<absl::string_view>& authorization,
                         absl::string_view peer) const;

  // The caller of a call that CheckCall let through, from its metadata;
  // nullopt when the token is no longer valid (the file was reloaded).
  std::optional<auth::Caller> CallerOf(
      const grpc::ServerContextBase& ctx) const;

  // For RPCs marked submitter_or_admin: OK when the caller is an admin or
  // `submitted_by` names them; otherwise PERMISSION_DENIED, audited.
  grpc::Status CheckJobOwner(const grpc::ServerContextBase& ctx,
                             absl::string_view method,
                             absl::string_view submitted_by) const;
  // The same for a caller and peer read from the context earlier (work that
  // runs after the handler returned must not touch the context).
  grpc::Status CheckJobOwner(const std::optional<auth::Caller>& caller,
                             absl::string_view peer, absl::string_view method,
                             absl::string_view submitted_by) const;

  // An AuthMetadataProcessor that runs CheckCall on every call (for
  // grpc::ServerCredentials::SetAuthMetadataProcessor).
  std::shared_ptr<grpc::AuthMetadataProcessor> MakeMetadataProcessor() const;

 private:
  const auth::TokenStore* tokens_;
  AuditLog* audit_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_RPC_AUTHORIZER_H_
