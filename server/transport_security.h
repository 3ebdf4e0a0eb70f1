// How the gRPC port is secured: TLS (optionally mutual) from certificate
// files that gRPC re-reads on its own, the credentials that carry the token
// check, and the rule that keeps an unprotected server on loopback.
#ifndef PRUNESERVE_SERVER_TRANSPORT_SECURITY_H_
#define PRUNESERVE_SERVER_TRANSPORT_SECURITY_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve {

struct TlsOptions {
  // PEM certificate chain and private key of the server; both or neither.
  // Empty = plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle; when set, clients must present a certificate it signed
  // (mutual TLS). Empty = no client certificates asked for.
  std::string client_ca_file;
  // gRPC's file watcher re-reads all three files this often, so replaced
  // certificates take effect without a restart or dropped connections.
  int refresh_seconds = 60;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// True when `address` ("host:port", "[v6]:port", "unix:path") can only be
// reached from this machine: 127.0.0.0/8, ::1, "localhost" or a Unix socket.
// An empty host or 0.0.0.0 / [::] is every interface: false.
bool IsLoopbackAddress(absl::string_view address);

// The credentials for `listen_address`: TLS when `tls` is enabled; else, when
// a token check will be attached (`with_auth`), gRPC local credentials,
// which accept loopback peers only (plaintext clients interoperate with
// them, and unlike insecure credentials they take an AuthMetadataProcessor);
// else insecure credentials. INVALID_ARGUMENT for half a TLS configuration
// or unreadable files (naming the flag), FAILED_PRECONDITION for tokens
// without TLS on a non-loopback address.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& tls, bool with_auth, absl::string_view listen_address);

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_TRANSPORT_SECURITY_H_
