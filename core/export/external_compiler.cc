#include "core/export/external_compiler.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/repository/model_name.h"
#include "core/util/file_util.h"
#include "core/util/status_macros.h"

extern char** environ;

namespace pruneserve::vitis {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPlaceholders[] = {"export_dir", "output_dir", "work_dir",
                                         "name", "arch"};

std::vector<std::string> SplitWords(const std::string& text) {
  return absl::StrSplit(text, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
}

// Replaces {key} in `word` with values[key]; unknown keys are reported.
absl::StatusOr<std::string> Substitute(
    const std::string& word,
    const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t open = word.find('{', pos);
    if (open == std::string::npos) break;
    const size_t close = word.find('}', open);
    if (close == std::string::npos) break;
    const std::string key = word.substr(open + 1, close - open - 1);
    auto it = std::find_if(values.begin(), values.end(),
                           [&](const auto& kv) { return kv.first == key; });
    if (it == values.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown placeholder {", key, "} in compile command; known: {",
          absl::StrJoin(kPlaceholders, "}, {"), "}"));
    }
    out.append(word, pos, open - pos);
    out += it->second;
    pos = close + 1;
  }
  out.append(word, pos, std::string::npos);
  return out;
}

// Finds `program` the way execvp would, in `path_var`. Empty when absent.
std::string ResolveProgram(const std::string& program,
                           const std::string& path_var) {
  if (program.find('/') != std::string::npos) {
    std::error_code ec;
    const std::string abs = fs::absolute(program, ec).string();
    return access(abs.c_str(), X_OK) == 0 ? abs : std::string();
  }
  for (absl::string_view dir : absl::StrSplit(path_var, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/", program);
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::string();
}

std::string MissingToolchainMessage(const ExternalCompilerOptions& options,
                                    const std::string& what) {
  return absl::StrCat(
      what,
      ". The external compile step needs the Vitis AI toolchain: run the "
      "server inside the Vitis AI docker image (xilinx/vitis-ai-pytorch-cpu, "
      "which provides vai_q_pytorch and vai_c_xir) with deploy/vitis/ on "
      "PATH, or set ",
      options.command_flag, " to a command that exists (now: \"",
      options.command_template, "\")");
}

// Keeps the last `cap` bytes appended.
class TailBuffer {
 public:
  explicit TailBuffer(size_t cap) : cap_(cap) {}
  void Append(const char* data, size_t n) {
    buf_.append(data, n);
    if (buf_.size() > 2 * cap_) buf_.erase(0, buf_.size() - cap_);
  }
  std::string Get() const {
    return buf_.size() > cap_ ? buf_.substr(buf_.size() - cap_) : buf_;
  }

 private:
  size_t cap_;
  std::string buf_;
};

enum class Outcome { kExited, kTimedOut, kCancelled };

struct ChildRun {
  Outcome outcome = Outcome::kExited;
  int wait_status = 0;
};

}  // namespace

ExternalCompiler::ExternalCompiler(ExternalCompilerOptions options)
    : options_(std::move(options)),
      words_(SplitWords(options_.command_template)) {}

absl::StatusOr<std::unique_ptr<ExternalCompiler>> ExternalCompiler::Create(
    ExternalCompilerOptions options) {
  if (SplitWords(options.command_template).empty()) {
    return absl::InvalidArgumentError("compile command template is empty");
  }
  if (options.timeout <= absl::ZeroDuration() || options.max_log_bytes <= 0 ||
      options.error_tail_bytes <= 0 ||
      options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "compile timeout, poll interval and log limits must be positive");
  }
  std::vector<std::pair<std::string, std::string>> dummy;
  for (const char* key : kPlaceholders) dummy.emplace_back(key, "x");
  for (const std::string& word : SplitWords(options.command_template)) {
    PS_RETURN_IF_ERROR(Substitute(word, dummy).status());
  }
  PS_RETURN_IF_ERROR(MakeDirectories(options.work_root));
  std::error_code ec;
  options.work_root = fs::absolute(options.work_root, ec).string();
  return std::unique_ptr<ExternalCompiler>(
      new ExternalCompiler(std::move(options)));
}

absl::StatusOr<CompileResult> ExternalCompiler::Compile(
    const CompileRequest& request,
    const std::function<bool()>& cancelled) const {
  PS_RETURN_IF_ERROR(ValidateModelName(request.name));
  std::error_code ec;
  if (!fs::is_directory(request.export_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("export directory ", request.export_dir, " not found"));
  }
  const std::string export_dir = fs::absolute(request.export_dir, ec).string();

  // The working directory and its layout.
  std::string dir_template =
      absl::StrCat(options_.work_root, "/", request.name, "-XXXXXX");
  if (mkdtemp(dir_template.data()) == nullptr) {
    return ErrnoToStatus(errno,
                         "create a compile directory in " + options_.work_root);
  }
  CompileResult result;
  result.work_dir = dir_template;
  result.log_path = result.work_dir + "/compile.log";
  const std::string output_dir = result.work_dir + "/out";
  const std::string tmp_dir = result.work_dir + "/tmp";
  PS_RETURN_IF_ERROR(MakeDirectories(output_dir));
  PS_RETURN_IF_ERROR(MakeDirectories(tmp_dir));
  auto fail = [&](absl::Status status) {
    if (!options_.keep_failed_work_dirs) {
      std::error_code ignored;
      fs::remove_all(result.work_dir, ignored);
    }
    return status;
  };

  // argv and envp, all built before fork().
  const std::vector<std::pair<std::string, std::string>> values = {
      {"export_dir", export_dir},
      {"output_dir", output_dir},
      {"work_dir", result.work_dir},
      {"name", request.name},
      {"arch", options_.arch}};
  std::vector<std::string> args;
  for (const std::string& word : words_) {
    PS_ASSIGN_OR_RETURN(std::string arg, Substitute(word, values));
    args.push_back(std::move(arg));
  }
  std::vector<std::string> env;
  std::string path_var = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& name : options_.env_allowlist) {
    if (name == "TMPDIR") continue;
    if (const char* v = std::getenv(name.c_str())) {
      env.push_back(absl::StrCat(name, "=", v));
      if (name == "PATH") path_var = v;
    }
  }
  env.push_back("TMPDIR=" + tmp_dir);
  const std::string program = ResolveProgram(args[0], path_var);
  if (program.empty()) {
    return fail(absl::FailedPreconditionError(MissingToolchainMessage(
        options_,
        absl::StrCat("compile command '", args[0],
                     "' is not an executable on PATH (", path_var, ")"))));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  const int log_fd = open(result.log_path.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return fail(ErrnoToStatus(errno, "create " + result.log_path));
  }
  const std::string banner = absl::StrCat("$ ", absl::StrJoin(args, " "), "\n");
  int64_t logged =
      std::max<int64_t>(0, write(log_fd, banner.data(), banner.size()));
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    const int err = errno;
    close(log_fd);
    return fail(ErrnoToStatus(err, "create the compile output pipe"));
  }
  const int dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  const long max_fd = std::min<long>(sysconf(_SC_OPEN_MAX), 65536);

  const absl::Time start = absl::Now();
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(log_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    if (dev_null >= 0) close(dev_null);
    return fail(ErrnoToStatus(err, "fork the compile command"));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (chdir(result.work_dir.c_str()) != 0) _exit(126);
    if (dev_null >= 0) dup2(dev_null, STDIN_FILENO);
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    for (long fd = 3; fd < max_fd; ++fd) close(static_cast<int>(fd));
    execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  // Parent. Both sides call setpgid so the group exists before any kill.
  setpgid(pid, pid);
  close(pipe_fds[1]);
  if (dev_null >= 0) close(dev_null);
  const int out_fd = pipe_fds[0];
  // A pidfd wakes poll() when the child exits; without one, poll_interval
  // bounds how late the exit is noticed.
  const int pid_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));

  TailBuffer tail(static_cast<size_t>(options_.error_tail_bytes));
  bool truncated = false;
  auto consume = [&](const char* data, ssize_t n) {
    tail.Append(data, static_cast<size_t>(n));
    const int64_t room = options_.max_log_bytes - logged;
    if (room > 0) {
      const int64_t k = std::min<int64_t>(room, n);
      if (write(log_fd, data, static_cast<size_t>(k)) == k) logged += k;
    }
    if (n > room) truncated = true;
  };
  // Reads what is available; false at end of stream.
  char buf[1 << 16];
  auto drain_once = [&]() {
    const ssize_t n = read(out_fd, buf, sizeof(buf));
    if (n > 0) {
      consume(buf, n);
      return true;
    }
    return n < 0 && errno == EINTR;
  };

  ChildRun run;
  const absl::Time deadline = start + options_.timeout;
  bool eof = false;
  while (true) {
    const pid_t w = waitpid(pid, &run.wait_status, WNOHANG);
    if (w == pid) break;
    if (cancelled && cancelled()) {
      run.outcome = Outcome::kCancelled;
      break;
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      run.outcome = Outcome::kTimedOut;
      break;
    }
    pollfd fds[2];
    int nfds = 0;
    if (!eof) fds[nfds++] = {out_fd, POLLIN, 0};
    if (pid_fd >= 0) fds[nfds++] = {pid_fd, POLLIN, 0};
    const int wait_ms = static_cast<int>(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(std::min(
                                 options_.poll_interval, deadline - now))));
    const int ready = poll(fds, static_cast<nfds_t>(nfds), wait_ms);
    if (ready > 0 && !eof && (fds[0].revents & (POLLIN | POLLHUP))) {
      if (!drain_once()) eof = true;
    }
  }
  // Kill the whole group: everything on timeout/cancel, stragglers after a
  // normal exit (ESRCH when there are none).
  kill(-pid, SIGKILL);
  if (run.outcome != Outcome::kExited) {
    while (waitpid(pid, &run.wait_status, 0) < 0 && errno == EINTR) {
    }
  }
  // Collect the rest of the output; with the group dead the pipe closes.
  // A bound protects against a helper that left the group and kept the pipe.
  const absl::Time drain_deadline = absl::Now() + absl::Seconds(2);
  while (!eof && absl::Now() < drain_deadline) {
    pollfd fd = {out_fd, POLLIN, 0};
    if (poll(&fd, 1, 100) > 0 && !drain_once()) eof = true;
  }
  close(out_fd);
  if (pid_fd >= 0) close(pid_fd);
  if (truncated) {
    const std::string note =
        absl::StrCat("\n[log cut at ", options_.max_log_bytes, " bytes]\n");
    (void)!write(log_fd, note.data(), note.size());
  }
  close(log_fd);
  result.elapsed = absl::Now() - start;

  const std::string log_tail = tail.Get();
  const std::string where =
      absl::StrCat("; log ", result.log_path, ", last output:\n", log_tail);
  switch (run.outcome) {
    case Outcome::kCancelled:
      return fail(absl::CancelledError(absl::StrCat(
          "compile of ", request.name, " cancelled after ",
          absl::FormatDuration(result.elapsed), "; log ", result.log_path)));
    case Outcome::kTimedOut:
      return fail(absl::DeadlineExceededError(
          absl::StrCat("compile of ", request.name, " did not finish within ",
                       absl::FormatDuration(options_.timeout),
                       "; its process group was killed", where)));
    case Outcome::kExited:
      break;
  }
  if (WIFSIGNALED(run.wait_status)) {
    return fail(absl::InternalError(
        absl::StrCat("compile command was killed by signal ",
                     WTERMSIG(run.wait_status), where)));
  }
  const int code =
      WIFEXITED(run.wait_status) ? WEXITSTATUS(run.wait_status) : -1;
  if (code == 127) {
    return fail(absl::FailedPreconditionError(MissingToolchainMessage(
        options_, absl::StrCat("compile command exited with 127 (a program it "
                               "runs was not found)",
                               where))));
  }
  if (code != 0) {
    return fail(absl::InternalError(
        absl::StrCat("compile command exited with status ", code, where)));
  }
  std::vector<std::string> xmodels;
  for (const auto& entry : fs::directory_iterator(output_dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".xmodel") {
      xmodels.push_back(entry.path().string());
    }
  }
  if (xmodels.size() != 1) {
    std::sort(xmodels.begin(), xmodels.end());
    return fail(absl::InternalError(
        absl::StrCat("compile command succeeded but left ", xmodels.size(),
                     " .xmodel files in ", output_dir, " (expected exactly one",
                     xmodels.empty() ? "" : ": " + absl::StrJoin(xmodels, ", "),
                     ")", where)));
  }
  result.xmodel_path = xmodels.front();
  return result;
}

}  // namespace pruneserve::vitis
