#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pruneserve::testing {

std::string BuiltBinary(const std::string& relative) {
  const char* dir = std::getenv("PRUNESERVE_BINARY_DIR");
  return absl::StrCat(dir && *dir ? dir : ".", "/", relative);
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(absl::StrCat(command, " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) {
    result.output.append(buf, n);
  }
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult RunPrunectl(const std::string& args) {
  return RunCommand(absl::StrCat(BuiltBinary("client/prunectl"), " ", args));
}

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

ServerProcess::~ServerProcess() {
  if (process_ != nullptr) Stop(SIGKILL);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& data_dir, std::vector<std::string> extra) {
  auto proc = std::unique_ptr<ServerProcess>(new ServerProcess());
  int metrics_port = PickFreePort();
  std::vector<std::string> args = {
      BuiltBinary("server/pruneserve"),
      "--data_dir=" + data_dir,
      "--listen=127.0.0.1:0",
      absl::StrCat("--metrics_listen=127.0.0.1:", metrics_port),
  };
  for (auto& e : extra) args.push_back(std::move(e));
  proc->stderr_path_ = data_dir + ".stderr.log";

  SubprocessOptions options;
  options.argv = std::move(args);
  options.env = Subprocess::CurrentEnvironment();
  options.stdin_target = StreamTarget::Inherit();
  options.stdout_target = StreamTarget::Pipe();
  options.stderr_target = StreamTarget::File(proc->stderr_path_, true);
  options.new_process_group = false;
  auto process = Subprocess::Start(std::move(options));
  if (!process.ok()) return process.status();
  proc->process_ = *std::move(process);

  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (true) {
    // Ends when the child exits (the pipe closes) or at the deadline.
    auto line = proc->process_->ReadStdoutLine(deadline);
    if (!line.ok()) break;
    int grpc = 0, metrics = 0;
    if (std::sscanf(line->c_str(),
                    "pruneserve: serving grpc_port=%d metrics_port=%d", &grpc,
                    &metrics) == 2) {
      proc->grpc_port_ = grpc;
      proc->metrics_port_ = metrics;
      // Leave stdout draining to the kernel buffer; the server prints little.
      proc->process_->CloseStdout();
      return proc;
    }
  }
  proc->process_->CloseStdout();
  std::ifstream err(proc->stderr_path_);
  std::stringstream ss;
  ss << err.rdbuf();
  return absl::UnavailableError(
      absl::StrCat("pruneserve did not start: ", ss.str()));
}

int ServerProcess::Stop(int signal) {
  if (process_ == nullptr) return -1;
  (void)process_->Signal(signal);
  auto result = process_->Wait();
  process_.reset();
  return result.ok() ? result->wait_status : -1;
}

}  // namespace pruneserve::testing
