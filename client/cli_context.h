// What every prunectl command shares: global flags and the exit code the
// command's callback sets.
#ifndef PRUNESERVE_CLIENT_CLI_CONTEXT_H_
#define PRUNESERVE_CLIENT_CLI_CONTEXT_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/channel.h"

namespace pruneserve::client {

struct CliContext {
  // Address of the pruneserve gRPC endpoint.
  std::string server = "127.0.0.1:8500";
  // Bearer token sent on every call (--token / PRUNESERVE_TOKEN); empty =
  // none.
  std::string token;
  // TLS: CA of the server certificate, and the client certificate and key
  // for mutual TLS (--tls-ca, --tls-cert, --tls-key); all empty = plaintext.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // Print machine-readable JSON instead of tables.
  bool json = false;
  // Process exit code; commands set it.
  int exit_code = 0;

  // Prints "prunectl: CODE: message" to stderr and sets exit_code = 1 when
  // `status` is an error. Returns status.ok().
  // The channel every remote command uses: address, TLS and token from the
  // flags above. Exits with code 2 and a message when a TLS file cannot be
  // read (nothing can be sent then).
  std::shared_ptr<grpc::Channel> Channel() const {
    ChannelOptions options;
    options.address = server;
    options.token = token;
    options.tls_ca_file = tls_ca;
    options.tls_cert_file = tls_cert;
    options.tls_key_file = tls_key;
    auto channel = MakeChannel(options);
    if (!channel.ok()) {
      std::fprintf(stderr, "prunectl: %s\n",
                   channel.status().ToString().c_str());
      std::exit(2);
    }
    return *std::move(channel);
  }

  bool Check(const absl::Status& status) {
    if (status.ok()) return true;
    std::fprintf(stderr, "prunectl: %s\n", status.ToString().c_str());
    exit_code = 1;
    return false;
  }
};

// Sets up `app` as prunectl: its name and description, one command required,
// and the global flags above (--server, --token, --tls-*, --json) bound to
// `ctx`, which must outlive parsing. Both prunectl binaries (prunectl and
// prunectl-local) call it, so they parse the same command lines.
void ConfigurePrunectl(CLI::App& app, CliContext& ctx);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_CLI_CONTEXT_H_
