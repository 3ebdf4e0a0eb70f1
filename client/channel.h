// Channels to a pruneserve server: plaintext or TLS (optionally with a client
// certificate for mutual TLS), and a bearer token attached to every call by
// one client interceptor, so no call site handles credentials.
#ifndef PRUNESERVE_CLIENT_CHANNEL_H_
#define PRUNESERVE_CLIENT_CHANNEL_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace pruneserve::client {

struct ChannelOptions {
  // "host:port" of the server.
  std::string address = "127.0.0.1:8500";
  // Sent as "authorization: Bearer <token>" on every call; empty = none.
  std::string token;
  // PEM CA bundle that signed the server certificate; setting it (or
  // tls_cert_file) selects TLS. Empty with TLS = the system roots.
  std::string tls_ca_file;
  // PEM client certificate chain and key for mutual TLS; both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Largest message sent or received.
  int max_message_bytes = 64 << 20;
};

// Builds the channel (connecting lazily). INVALID_ARGUMENT naming the file
// when a TLS file cannot be read or only one of cert/key is given.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ChannelOptions& options);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_CHANNEL_H_
