#include "server/rpc_authorizer.h"

#include <grpc/grpc_security_constants.h>

#include "absl/strings/str_cat.h"
#include "server/rpc_roles.h"

namespace pruneserve {
namespace {

constexpr absl::string_view kAuthorization = "authorization";

// "Service/Method" of a table entry, the metric label.
absl::string_view RpcLabel(const RpcRule* rule) {
  if (rule == nullptr) return "unknown";
  absl::string_view m = rule->method;
  const size_t dot = m.rfind('.', m.find('/', 1));
  return dot == absl::string_view::npos ? m.substr(1) : m.substr(dot + 1);
}

// What the TLS handshake says about the peer: the transport and, with
// mutual TLS, the client certificate's common name. (An
// AuthMetadataProcessor is not told the peer's address.)
std::string PeerOf(const grpc::AuthContext& context) {
  std::string peer;
  for (const auto& v :
       context.FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)) {
    peer.assign(v.data(), v.size());
  }
  for (const auto& v : context.FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    absl::StrAppend(&peer, ":cn=", absl::string_view(v.data(), v.size()));
  }
  return peer.empty() ? "unknown" : peer;
}

class Processor final : public grpc::AuthMetadataProcessor {
 public:
  explicit Processor(const RpcAuthorizer* authorizer)
      : authorizer_(authorizer) {}

  // CheckCall only hashes and compares: no need for another thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata,
                       grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    absl::string_view method;
    std::vector<absl::string_view> authorization;
    for (const auto& [key, value] : metadata) {
      const absl::string_view k(key.data(), key.size());
      if (k == ":path") method = absl::string_view(value.data(), value.size());
      if (k == kAuthorization) {
        authorization.emplace_back(value.data(), value.size());
      }
    }
    return authorizer_->CheckCall(method, authorization, PeerOf(*context));
  }

 private:
  const RpcAuthorizer* authorizer_;
};

}  // namespace

grpc::Status RpcAuthorizer::CheckCall(
    absl::string_view method,
    const std::vector<absl::string_view>& authorization,
    absl::string_view peer) const {
  const RpcRule* rule = FindRpcRule(method);
  if (rule != nullptr && !rule->role.has_value()) return grpc::Status::OK;
  const auth::Role need = rule != nullptr ? *rule->role : auth::Role::kAdmin;
  AuditEvent event;
  event.rpc_label = RpcLabel(rule);
  event.method = method;
  event.peer = peer;

  std::optional<auth::Caller> caller;
  if (authorization.size() == 1) {
    if (auto token = auth::BearerToken(authorization[0])) {
      caller = tokens_->Authenticate(*token);
    }
  }
  if (!caller.has_value()) {
    event.outcome = AuditOutcome::kUnauthenticated;
    event.detail = authorization.empty() ? "no bearer token" : "unknown token";
    audit_->Record(event);
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "a valid \"authorization: Bearer <token>\" is needed");
  }
  event.who = caller->name;
  event.role = auth::RoleName(caller->role);
  if (!auth::RoleGrants(caller->role, need)) {
    event.outcome = AuditOutcome::kPermissionDenied;
    event.detail = "role";
    audit_->Record(event);
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("token \"", caller->name, "\" has role ",
                     auth::RoleName(caller->role), "; this call needs ",
                     auth::RoleName(need)));
  }
  if (rule != nullptr && rule->destructive) {
    event.outcome = AuditOutcome::kAllowed;
    audit_->Record(event);
  }
  return grpc::Status::OK;
}

std::optional<auth::Caller> RpcAuthorizer::CallerOf(
    const grpc::ServerContextBase& ctx) const {
  const auto& metadata = ctx.client_metadata();
  if (metadata.count(std::string(kAuthorization)) != 1) return std::nullopt;
  const auto& value = metadata.find(std::string(kAuthorization))->second;
  auto token = auth::BearerToken(absl::string_view(value.data(), value.size()));
  if (!token) return std::nullopt;
  return tokens_->Authenticate(*token);
}

grpc::Status RpcAuthorizer::CheckJobOwner(
    const grpc::ServerContextBase& ctx, absl::string_view method,
    absl::string_view submitted_by) const {
  return CheckJobOwner(CallerOf(ctx), ctx.peer(), method, submitted_by);
}

grpc::Status RpcAuthorizer::CheckJobOwner(
    const std::optional<auth::Caller>& caller, absl::string_view peer,
    absl::string_view method, absl::string_view submitted_by) const {
  if (caller.has_value() &&
      (caller->role == auth::Role::kAdmin || caller->name == submitted_by)) {
    return grpc::Status::OK;
  }
  AuditEvent event;
  event.rpc_label = RpcLabel(FindRpcRule(method));
  event.method = method;
  event.outcome = caller.has_value() ? AuditOutcome::kPermissionDenied
                                     : AuditOutcome::kUnauthenticated;
  if (caller.has_value()) {
    event.who = caller->name;
    event.role = auth::RoleName(caller->role);
  }
  event.peer = peer;
  event.detail = "not the submitter";
  audit_->Record(event);
  if (!caller.has_value()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the token is no longer valid");
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "only the job's submitter or an admin may cancel it");
}

std::shared_ptr<grpc::AuthMetadataProcessor>
RpcAuthorizer::MakeMetadataProcessor() const {
  return std::make_shared<Processor>(this);
}

}  // namespace pruneserve
