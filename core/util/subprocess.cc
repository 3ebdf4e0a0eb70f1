#include "core/util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iterator>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/file_util.h"

extern char** environ;

namespace pruneserve {
namespace {

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

// The steps of the child, reported to the parent when one fails.
enum ChildStep : int {
  kStepStdio = 1,
  kStepChdir,
  kStepRlimit,
  kStepNoNewPrivs,
  kStepHook,
  kStepExec,
};

const char* StepName(int step) {
  switch (step) {
    case kStepStdio:
      return "connect stdio";
    case kStepChdir:
      return "change to the working directory";
    case kStepRlimit:
      return "apply a resource limit";
    case kStepNoNewPrivs:
      return "set PR_SET_NO_NEW_PRIVS";
    case kStepHook:
      return "run the child hook";
    case kStepExec:
      return "execute";
  }
  return "start";
}

struct ChildError {
  int step = 0;
  int err = 0;
  // The RLIMIT_* resource for kStepRlimit.
  int detail = 0;
};

// One setrlimit() call, prepared in the parent.
struct PreparedLimit {
  int resource = 0;
  rlimit value{};
};

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// `path` made absolute against the parent's working directory, so that
// working_dir does not change which program runs.
std::string Absolute(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.string();
}

// Resolves argv[0] the way execvp() would, before vfork().
absl::StatusOr<std::string> ResolveProgram(
    const std::string& program, const std::vector<std::string>& env) {
  if (absl::StrContains(program, '/')) {
    struct stat st {};
    if (::stat(program.c_str(), &st) != 0) {
      return absl::NotFoundError(
          absl::StrCat("'", program, "' is not an executable: no such file"));
    }
    if (!IsExecutableFile(program)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "'", program, "' is not an executable: not a file we may execute"));
    }
    return Absolute(program);
  }
  std::string path_var = kDefaultPath;
  for (const std::string& entry : env) {
    if (absl::StartsWith(entry, "PATH=")) path_var = entry.substr(5);
  }
  for (absl::string_view dir : absl::StrSplit(path_var, ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", program);
    if (IsExecutableFile(candidate)) return Absolute(candidate);
  }
  return absl::NotFoundError(absl::StrCat(
      "'", program, "' is not an executable on PATH (", path_var, ")"));
}

// Descriptors the parent opens for the child; closes what it holds.
struct FdSet {
  int fds[8];
  int count = 0;
  void Add(int fd) {
    if (fd >= 0) fds[count++] = fd;
  }
  ~FdSet() {
    for (int i = 0; i < count; ++i) ::close(fds[i]);
  }
};

// Moves `fd` above the standard descriptors so the child's dup2() calls
// cannot overwrite a source before it is used.
int AboveStdio(int fd) {
  if (fd < 0 || fd > STDERR_FILENO) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  ::close(fd);
  return moved;
}

// Opens `target` for standard descriptor `which` in the parent. Returns the
// descriptor the child dup2()s (-1: leave as is) and, for pipes, the
// parent's end in *parent_end.
absl::StatusOr<int> OpenTarget(const StreamTarget& target, int which,
                               int* parent_end, FdSet* child_side) {
  const bool input = which == STDIN_FILENO;
  int fd = -1;
  switch (target.kind) {
    case StreamTarget::Kind::kInherit:
    case StreamTarget::Kind::kStdout:
      return -1;
    case StreamTarget::Kind::kNull:
      fd = ::open("/dev/null", (input ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
      if (fd < 0) return ErrnoToStatus(errno, "open /dev/null");
      break;
    case StreamTarget::Kind::kFile: {
      const int flags =
          input ? O_RDONLY
                : O_WRONLY | O_CREAT | (target.append ? O_APPEND : O_TRUNC);
      fd = ::open(target.path.c_str(), flags | O_CLOEXEC, 0644);
      if (fd < 0) return ErrnoToStatus(errno, "open " + target.path);
      break;
    }
    case StreamTarget::Kind::kPipe: {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) {
        return ErrnoToStatus(errno, "create a pipe");
      }
      if (input) {
        // The child reads end-of-file: nothing is ever written.
        ::close(p[1]);
        fd = p[0];
      } else {
        *parent_end = p[0];
        fd = p[1];
      }
      break;
    }
  }
  fd = AboveStdio(fd);
  if (fd < 0) return ErrnoToStatus(errno, "move a stdio descriptor");
  child_side->Add(fd);
  return fd;
}

absl::StatusOr<std::vector<PreparedLimit>> PrepareLimits(
    const ResourceLimits& limits) {
  const std::pair<int, int64_t> wanted[] = {
      {RLIMIT_AS, limits.address_space_bytes},
      {RLIMIT_CPU, limits.cpu_seconds},
      {RLIMIT_FSIZE, limits.file_size_bytes},
      {RLIMIT_CORE, limits.core_file_bytes},
      {RLIMIT_NOFILE, limits.open_files},
  };
  const char* names[] = {"RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE",
                         "RLIMIT_CORE", "RLIMIT_NOFILE"};
  std::vector<PreparedLimit> out;
  for (size_t i = 0; i < std::size(wanted); ++i) {
    const auto [resource, value] = wanted[i];
    if (value == ResourceLimits::kUnchanged) continue;
    if (value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(names[i], " must be >= 0, got ", value));
    }
    rlimit current{};
    ::getrlimit(resource, &current);
    PreparedLimit limit;
    limit.resource = resource;
    limit.value.rlim_cur = static_cast<rlim_t>(value);
    // CPU: SIGXCPU at the soft limit, SIGKILL a second later.
    limit.value.rlim_max =
        static_cast<rlim_t>(resource == RLIMIT_CPU ? value + 1 : value);
    if (current.rlim_max != RLIM_INFINITY &&
        limit.value.rlim_max > current.rlim_max) {
      return absl::PermissionDeniedError(
          absl::StrCat(names[i], " of ", value, " is above the hard limit ",
                       current.rlim_max, " this process may grant"));
    }
    out.push_back(limit);
  }
  return out;
}

// The child side, between vfork() and execve(). Async-signal-safe system
// calls only; everything it reads was built by the parent, and it writes no
// memory the parent will read (vfork() shares it).
struct ChildPlan {
  const char* program = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* working_dir = nullptr;
  int stdio[3] = {-1, -1, -1};
  bool stderr_to_stdout = false;
  bool new_process_group = false;
  bool no_new_privs = false;
  const PreparedLimit* limits = nullptr;
  size_t limit_count = 0;
  const std::function<int()>* hook = nullptr;
  int error_fd = -1;
};

[[noreturn]] void ChildFail(int error_fd, int step, int err, int detail = 0) {
  ChildError e;
  e.step = step;
  e.err = err;
  e.detail = detail;
  (void)!::write(error_fd, &e, sizeof(e));
  ::_exit(127);
}

void CloseFrom(int first, int last) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, last, 0) == 0) return;
#endif
  const long max_fd = std::min<long>(::sysconf(_SC_OPEN_MAX), 65536);
  for (long fd = first; fd <= std::min<long>(last, max_fd - 1); ++fd) {
    ::close(static_cast<int>(fd));
  }
}

[[noreturn]] void RunChild(const ChildPlan& plan) {
  const int efd = plan.error_fd;
  if (plan.new_process_group) ::setpgid(0, 0);
  // Every signal is blocked (the parent did so before vfork()). A caught
  // signal would run a handler of the parent on its memory: give those the
  // default action before anything is unblocked, and SIGPIPE too.
  struct sigaction action;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (::sigaction(sig, nullptr, &action) != 0) continue;
    if (action.sa_handler == SIG_IGN && sig != SIGPIPE) continue;
    if (action.sa_handler == SIG_DFL) continue;
    action.sa_handler = SIG_DFL;
    action.sa_flags = 0;
    ::sigaction(sig, &action, nullptr);
  }
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  ::sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
  for (int i = 0; i < 3; ++i) {
    if (plan.stdio[i] >= 0 && ::dup2(plan.stdio[i], i) < 0) {
      ChildFail(efd, kStepStdio, errno);
    }
  }
  if (plan.stderr_to_stdout && ::dup2(STDOUT_FILENO, STDERR_FILENO) < 0) {
    ChildFail(efd, kStepStdio, errno);
  }
  if (plan.working_dir != nullptr && ::chdir(plan.working_dir) != 0) {
    ChildFail(efd, kStepChdir, errno);
  }
  for (size_t i = 0; i < plan.limit_count; ++i) {
    if (::setrlimit(plan.limits[i].resource, &plan.limits[i].value) != 0) {
      ChildFail(efd, kStepRlimit, errno, plan.limits[i].resource);
    }
  }
  // Keep only 0-2 and the error pipe (close-on-exec itself).
  if (efd > STDERR_FILENO + 1) CloseFrom(STDERR_FILENO + 1, efd - 1);
  CloseFrom(efd + 1, ~0U >> 1);
  if (plan.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    ChildFail(efd, kStepNoNewPrivs, errno);
  }
  if (plan.hook != nullptr && *plan.hook) {
    const int err = (*plan.hook)();
    if (err != 0) ChildFail(efd, kStepHook, err);
  }
  ::execve(plan.program, plan.argv, plan.envp);
  ChildFail(efd, kStepExec, errno);
}

absl::Status ChildErrorToStatus(const ChildError& e, const std::string& prog) {
  std::string what = absl::StrCat(StepName(e.step), " for ", prog);
  if (e.step == kStepRlimit)
    absl::StrAppend(&what, " (resource ", e.detail, ")");
  return ErrnoToStatus(e.err, what);
}

}  // namespace

std::vector<std::string> Subprocess::CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    env.emplace_back(*e);
  }
  return env;
}

Subprocess::Subprocess(SubprocessOptions options, pid_t pid, absl::Time start)
    : options_(std::move(options)), pid_(pid), start_(start) {}

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    SubprocessOptions options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("subprocess argv is empty");
  }
  if (options.stdin_target.kind == StreamTarget::Kind::kStdout ||
      options.stdout_target.kind == StreamTarget::Kind::kStdout) {
    return absl::InvalidArgumentError("only stderr can be merged into stdout");
  }
  auto program = ResolveProgram(options.argv[0], options.env);
  if (!program.ok()) return program.status();
  auto limits = PrepareLimits(options.limits);
  if (!limits.ok()) return limits.status();

  // argv and envp as char* arrays; the strings live in `args` / `env`.
  std::vector<std::string> args = options.argv;
  std::vector<std::string> env = options.env;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  FdSet child_side;  // closed in the parent when Start() returns
  int parent_out = -1;
  int parent_err = -1;
  int unused = -1;
  ChildPlan plan;
  auto in =
      OpenTarget(options.stdin_target, STDIN_FILENO, &unused, &child_side);
  if (!in.ok()) return in.status();
  auto out = OpenTarget(options.stdout_target, STDOUT_FILENO, &parent_out,
                        &child_side);
  if (!out.ok()) return out.status();
  // From here the parent ends are owned by the Subprocess or closed below.
  auto close_parent_ends = [&] {
    if (parent_out >= 0) ::close(parent_out);
    if (parent_err >= 0) ::close(parent_err);
  };
  auto err = OpenTarget(options.stderr_target, STDERR_FILENO, &parent_err,
                        &child_side);
  if (!err.ok()) {
    close_parent_ends();
    return err.status();
  }
  plan.stdio[0] = *in;
  plan.stdio[1] = *out;
  plan.stdio[2] = *err;
  plan.stderr_to_stdout =
      options.stderr_target.kind == StreamTarget::Kind::kStdout;

  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    close_parent_ends();
    return ErrnoToStatus(errno, "create the subprocess error pipe");
  }
  plan.program = program->c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.working_dir =
      options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  plan.new_process_group = options.new_process_group;
  plan.no_new_privs = options.no_new_privs;
  plan.limits = limits->data();
  plan.limit_count = limits->size();
  plan.hook = &options.child_hook;
  plan.error_fd = error_pipe[1];

  const absl::Time start = absl::Now();
  sigset_t all_signals;
  sigset_t caller_mask;
  sigfillset(&all_signals);
  ::pthread_sigmask(SIG_SETMASK, &all_signals, &caller_mask);
  const pid_t pid = ::vfork();
  if (pid == 0) RunChild(plan);
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &caller_mask, nullptr);
  ::close(error_pipe[1]);
  if (pid < 0) {
    ::close(error_pipe[0]);
    close_parent_ends();
    return ErrnoToStatus(fork_errno, "vfork for " + options.argv[0]);
  }
  // Both sides call setpgid so the group exists before any kill(-pid).
  if (options.new_process_group) ::setpgid(pid, pid);

  // End-of-file means execve() succeeded (the pipe is close-on-exec).
  ChildError child_error;
  ssize_t n;
  do {
    n = ::read(error_pipe[0], &child_error, sizeof(child_error));
  } while (n < 0 && errno == EINTR);
  ::close(error_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_error))) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    close_parent_ends();
    return ChildErrorToStatus(child_error, *program);
  }

  auto proc = std::unique_ptr<Subprocess>(
      new Subprocess(std::move(options), pid, start));
  proc->stdout_fd_ = parent_out;
  proc->stderr_fd_ = parent_err;
  proc->pid_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  return proc;
}

absl::StatusOr<SubprocessResult> Subprocess::Run(
    SubprocessOptions options, const SubprocessWaitHooks& hooks) {
  auto proc = Start(std::move(options));
  if (!proc.ok()) return proc.status();
  return (*proc)->Wait(hooks);
}

Subprocess::~Subprocess() {
  if (!reaped_) {
    KillAll();
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  CloseStdout();
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
  if (pid_fd_ >= 0) ::close(pid_fd_);
}

void Subprocess::KillAll() {
  if (reaped_) return;
  ::kill(options_.new_process_group ? -pid_ : pid_, SIGKILL);
}

void Subprocess::CloseStdout() {
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
}

absl::Status Subprocess::Signal(int signal) {
  if (reaped_) {
    return absl::FailedPreconditionError("the subprocess was already reaped");
  }
  if (::kill(pid_, signal) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("signal ", signal, " to ", pid_));
  }
  return absl::OkStatus();
}

bool Subprocess::HasExited() const {
  if (reaped_) return true;
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info,
               WEXITED | WNOHANG | WNOWAIT) != 0) {
    // ECHILD: already reaped behind our back (SIGCHLD ignored); gone.
    return errno == ECHILD;
  }
  return info.si_pid == pid_;
}

absl::StatusOr<std::string> Subprocess::ReadStdoutLine(absl::Time deadline) {
  if (stdout_fd_ < 0) {
    return absl::FailedPreconditionError("subprocess stdout is not a pipe");
  }
  while (true) {
    const size_t eol = stdout_pending_.find('\n');
    if (eol != std::string::npos) {
      std::string line = stdout_pending_.substr(0, eol);
      stdout_pending_.erase(0, eol + 1);
      return line;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("no complete line on stdout in time");
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    const int wait_ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(left), 1, 1000));
    if (::poll(&pfd, 1, wait_ms) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::OutOfRangeError("stdout closed before a complete line");
    }
    stdout_pending_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<SubprocessResult> Subprocess::Wait(
    const SubprocessWaitHooks& hooks) {
  if (reaped_) {
    return absl::FailedPreconditionError(
        "the subprocess was already waited for");
  }
  SubprocessResult result;
  const size_t cap =
      static_cast<size_t>(std::max<int64_t>(0, options_.max_output_bytes));
  struct Capture {
    int* fd;
    SubprocessWaitHooks::Stream stream;
    std::string* text;
    bool* truncated;
  };
  Capture captures[2] = {{&stdout_fd_, SubprocessWaitHooks::Stream::kStdout,
                          &result.stdout_text, &result.stdout_truncated},
                         {&stderr_fd_, SubprocessWaitHooks::Stream::kStderr,
                          &result.stderr_text, &result.stderr_truncated}};
  auto keep = [&](Capture& c, const char* data, size_t n) {
    if (hooks.on_output) hooks.on_output(c.stream, absl::string_view(data, n));
    const size_t room = cap - std::min(cap, c.text->size());
    c.text->append(data, std::min(room, n));
    if (n > room) *c.truncated = true;
  };
  if (!stdout_pending_.empty()) {
    keep(captures[0], stdout_pending_.data(), stdout_pending_.size());
    stdout_pending_.clear();
  }
  // Reads what one stream has; closes it at end-of-file.
  char buf[1 << 16];
  auto read_some = [&](Capture& c) {
    const ssize_t n = ::read(*c.fd, buf, sizeof(buf));
    if (n > 0) {
      keep(c, buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      ::close(*c.fd);
      *c.fd = -1;
    }
  };
  // Polls the open streams (and the pidfd) for up to `wait`.
  auto pump = [&](absl::Duration wait, bool with_pidfd) {
    pollfd fds[3];
    Capture* owners[3] = {nullptr, nullptr, nullptr};
    nfds_t nfds = 0;
    for (Capture& c : captures) {
      if (*c.fd < 0) continue;
      owners[nfds] = &c;
      fds[nfds++] = {*c.fd, POLLIN, 0};
    }
    if (with_pidfd && pid_fd_ >= 0) fds[nfds++] = {pid_fd_, POLLIN, 0};
    if (nfds == 0) {
      absl::SleepFor(wait);  // nothing to poll: no pipes and no pidfd
      return;
    }
    const int wait_ms =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait)));
    if (::poll(fds, nfds, wait_ms) <= 0) return;
    for (nfds_t i = 0; i < nfds; ++i) {
      if (owners[i] != nullptr &&
          (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        read_some(*owners[i]);
      }
    }
  };

  const bool has_deadline = options_.timeout > absl::ZeroDuration();
  const absl::Time deadline =
      has_deadline ? start_ + options_.timeout : absl::InfiniteFuture();
  // Without a pidfd nothing wakes poll() at exit; poll_interval bounds how
  // late the exit is noticed.
  const absl::Duration tick =
      (hooks.cancelled || pid_fd_ < 0)
          ? std::max(hooks.poll_interval, absl::Milliseconds(1))
          : absl::Seconds(1);
  while (!HasExited()) {
    if (hooks.cancelled && hooks.cancelled()) {
      result.cancelled = true;
      break;
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
    pump(std::min(tick, deadline - now), /*with_pidfd=*/true);
  }
  // The child is dead or a zombie, so its pid (and group id) cannot be
  // reused yet: kill everything on timeout/cancel, and stragglers of the
  // group after a normal exit (ESRCH when there are none).
  if (result.timed_out || result.cancelled || options_.new_process_group) {
    KillAll();
  }
  int status = 0;
  pid_t waited;
  while ((waited = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  if (waited == pid_) {
    result.wait_status = status;
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  }  // else reaped elsewhere: exit_code stays -1, term_signal 0.

  const absl::Time drain_deadline = absl::Now() + options_.drain_timeout;
  while ((stdout_fd_ >= 0 || stderr_fd_ >= 0) && absl::Now() < drain_deadline) {
    pump(std::min(drain_deadline - absl::Now(), absl::Milliseconds(100)),
         /*with_pidfd=*/false);
  }
  result.elapsed = absl::Now() - start_;
  return result;
}

}  // namespace pruneserve
