// The real `pruneserve` binary as a child process of a benchmark: started
// with a port of the kernel's choosing, found through the serving line it
// prints, and stopped gracefully (SIGTERM) or killed (SIGKILL) on request.
// Benches that restart the server many times on one data directory (the
// crash bench) need exactly this and no test framework.
#ifndef PRUNESERVE_BENCH_CHILD_SERVER_H_
#define PRUNESERVE_BENCH_CHILD_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pruneserve::bench {

// Not thread-safe. The destructor kills (SIGKILL) a child that is still
// running and reaps it.
class ChildServer {
 public:
  ~ChildServer();

  // Starts `binary` with `flags` (which must include --listen with port 0),
  // its stderr appended to `log_path`, and blocks until it prints
  // "pruneserve: serving grpc_port=N". UNAVAILABLE with the log's tail when
  // it exits first or `timeout_seconds` pass.
  static absl::StatusOr<std::unique_ptr<ChildServer>> Start(
      const std::string& binary, const std::vector<std::string>& flags,
      const std::string& log_path, int timeout_seconds = 120);

  // Sends `signal` and blocks until the child exited; returns the waitpid
  // status. -1 when it was already stopped.
  int Stop(int signal);

  pid_t pid() const { return pid_; }
  std::string address() const;

 private:
  ChildServer() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
};

}  // namespace pruneserve::bench

#endif  // PRUNESERVE_BENCH_CHILD_SERVER_H_
