#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace pruneserve::testing {

std::string BuiltBinary(const std::string& relative) {
  const char* dir = std::getenv("PRUNESERVE_BINARY_DIR");
  return absl::StrCat(dir && *dir ? dir : ".", "/", relative);
}

CommandResult RunPrunectl(const std::string& args) {
  std::string cmd =
      absl::StrCat(BuiltBinary("client/prunectl"), " ", args, " 2>&1");
  CommandResult result;
  FILE* pipe = ::popen(cmd.c_str(), "r");
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
  if (pid_ > 0) Stop(SIGKILL);
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

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    int err =
        ::open(proc->stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) ::dup2(err, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  proc->pid_ = pid;

  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{out_pipe[0], POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    char c;
    ssize_t n = ::read(out_pipe[0], &c, 1);
    if (n <= 0) break;  // child exited
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    int grpc = 0, metrics = 0;
    if (std::sscanf(line.c_str(),
                    "pruneserve: serving grpc_port=%d metrics_port=%d", &grpc,
                    &metrics) == 2) {
      proc->grpc_port_ = grpc;
      proc->metrics_port_ = metrics;
      // Leave stdout draining to the kernel buffer; the server prints little.
      ::close(out_pipe[0]);
      return proc;
    }
    line.clear();
  }
  ::close(out_pipe[0]);
  std::ifstream err(proc->stderr_path_);
  std::stringstream ss;
  ss << err.rdbuf();
  return absl::UnavailableError(
      absl::StrCat("pruneserve did not start: ", ss.str()));
}

int ServerProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

}  // namespace pruneserve::testing
