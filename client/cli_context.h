// What every prunectl command shares: global flags and the exit code the
// command's callback sets.
#ifndef PRUNESERVE_CLIENT_CLI_CONTEXT_H_
#define PRUNESERVE_CLIENT_CLI_CONTEXT_H_

#include <cstdio>
#include <string>

#include "absl/status/status.h"

namespace pruneserve::client {

struct CliContext {
  // Address of the pruneserve gRPC endpoint.
  std::string server = "127.0.0.1:8500";
  // Print machine-readable JSON instead of tables.
  bool json = false;
  // Process exit code; commands set it.
  int exit_code = 0;

  // Prints "prunectl: CODE: message" to stderr and sets exit_code = 1 when
  // `status` is an error. Returns status.ok().
  bool Check(const absl::Status& status) {
    if (status.ok()) return true;
    std::fprintf(stderr, "prunectl: %s\n", status.ToString().c_str());
    exit_code = 1;
    return false;
  }
};

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_CLI_CONTEXT_H_
