// Runs the real `pruneserve` binary as a child process for whole-process
// tests: picks free ports, waits for its "serving" line, and stops it with
// SIGTERM (graceful) or SIGKILL (crash).
#ifndef PRUNESERVE_TESTS_TESTING_SERVER_PROCESS_H_
#define PRUNESERVE_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/util/subprocess.h"

namespace pruneserve::testing {

// Path of a binary built by this project, from $PRUNESERVE_BINARY_DIR (set by
// CTest) or the current directory's build tree.
std::string BuiltBinary(const std::string& relative);

// Not thread-safe. The destructor kills a still-running child.
class ServerProcess {
 public:
  ~ServerProcess();

  // Starts pruneserve with --data_dir and free loopback ports plus `extra`
  // flags, and blocks until it prints its serving line (or exits, or 60 s
  // pass: then an error carrying its stderr tail).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& data_dir, std::vector<std::string> extra = {});

  std::string grpc_address() const {
    return "127.0.0.1:" + std::to_string(grpc_port_);
  }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  // The file the server's stderr goes to (<data_dir>.stderr.log).
  const std::string& stderr_path() const { return stderr_path_; }

  // Sends `signal` and waits for exit; returns the exit status as from
  // waitpid (use WIFEXITED / WEXITSTATUS).
  int Stop(int signal);

 private:
  ServerProcess() = default;
  // The running server; null once stopped.
  std::unique_ptr<Subprocess> process_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::string stderr_path_;
};

struct CommandResult {
  int exit_code = -1;
  // stdout and stderr, interleaved.
  std::string output;
};

// Runs `command` through /bin/sh and captures its stdout and stderr.
// exit_code is -1 when the shell could not start or the command did not
// exit normally. Blocks until it exits.
CommandResult RunCommand(const std::string& command);

// Runs the built prunectl with `args` (a shell-quoted string) and captures
// its output. Blocks until it exits.
CommandResult RunPrunectl(const std::string& args);

// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_SERVER_PROCESS_H_
