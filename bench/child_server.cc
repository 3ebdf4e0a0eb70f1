#include "bench/child_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pruneserve::bench {

ChildServer::~ChildServer() {
  Stop(SIGKILL);
  // Open until the child is gone: it must never write into a closed pipe.
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

absl::StatusOr<std::unique_ptr<ChildServer>> ChildServer::Start(
    const std::string& binary, const std::vector<std::string>& flags,
    const std::string& log_path, int timeout_seconds) {
  auto child = std::unique_ptr<ChildServer>(new ChildServer());
  std::vector<std::string> args = {binary};
  args.insert(args.end(), flags.begin(), flags.end());
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe2");
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork");
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    const int err =
        ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) ::dup2(err, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  child->pid_ = pid;
  child->stdout_fd_ = out[0];
  std::string line;
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_seconds);
  while (absl::Now() < deadline) {
    pollfd pfd{out[0], POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    char c;
    if (::read(out[0], &c, 1) <= 0) break;  // the child exited
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    if (std::sscanf(line.c_str(), "pruneserve: serving grpc_port=%d",
                    &child->port_) == 1) {
      return child;
    }
    line.clear();
  }
  child->Stop(SIGKILL);
  std::ifstream log(log_path);
  std::stringstream text;
  text << log.rdbuf();
  std::string tail = text.str();
  if (tail.size() > 2000) tail = tail.substr(tail.size() - 2000);
  return absl::UnavailableError(absl::StrCat(binary, " did not start: ", tail));
}

int ChildServer::Stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::string ChildServer::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

}  // namespace pruneserve::bench
