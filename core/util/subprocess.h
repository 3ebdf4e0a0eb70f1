// Runs another program as a child process: the one place in the project that
// starts one (vfork() and execve()).
//
// Everything the child needs (argv, envp, the resolved program path, opened
// stdio files, resource limits) is prepared in the parent before vfork(), so
// the child until execve() only makes async-signal-safe system calls, never
// allocates and never writes the parent's memory. vfork(), not fork(): fork()
// runs the process's atfork handlers, and OpenBLAS's (LibTorch's BLAS) joins
// its worker threads there — two fork()s at once, or one while another
// thread is inside a threaded matrix multiply, hang the server for good.
// vfork() runs no handlers and copies no page tables. The calling thread
// blocks every signal around vfork(); the child restores the default action
// of every caught signal before it unblocks them (the parent's handlers
// must not run on the shared memory). That is what makes starting a process
// from a multi-threaded server safe. The child, in order:
// server safe. The child, in order:
//   1. becomes the leader of a new process group (new_process_group),
//   2. unblocks all signals and restores SIGPIPE to its default action,
//   3. connects stdin / stdout / stderr,
//   4. changes to working_dir,
//   5. applies the resource limits (setrlimit),
//   6. closes every other file descriptor,
//   7. sets PR_SET_NO_NEW_PRIVS (no_new_privs),
//   8. runs child_hook (e.g. installs a seccomp filter),
//   9. execve()s the program.
// A failure in any step is sent to the parent over a close-on-exec pipe and
// Start() returns it as a Status naming the step; the child then exits 127.
//
// Typical one-shot use:
//   SubprocessOptions options;
//   options.argv = {"/bin/sh", "-c", "echo hi"};
//   options.timeout = absl::Seconds(10);
//   PS_ASSIGN_OR_RETURN(SubprocessResult r, Subprocess::Run(options));
//   // r.exit_code == 0, r.stdout_text == "hi\n"
// Long-running children (a server under test) use Start(), read
// stdout_fd() or ReadStdoutLine(), then Signal() and Wait().
#ifndef PRUNESERVE_CORE_UTIL_SUBPROCESS_H_
#define PRUNESERVE_CORE_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pruneserve {

// Where one standard stream of the child goes.
struct StreamTarget {
  enum class Kind {
    kInherit,  // the parent's own descriptor
    kNull,     // /dev/null
    kPipe,     // a pipe the parent reads (stdout/stderr) or that is empty
               // and closed (stdin: the child reads end-of-file)
    kFile,     // `path`, opened by the parent before vfork()
    kStdout,   // stderr only: the same descriptor as stdout (merged output)
  };

  static StreamTarget Inherit() { return {Kind::kInherit}; }
  static StreamTarget Null() { return {Kind::kNull}; }
  static StreamTarget Pipe() { return {Kind::kPipe}; }
  static StreamTarget File(std::string path, bool append = false) {
    return {Kind::kFile, std::move(path), append};
  }
  static StreamTarget SameAsStdout() { return {Kind::kStdout}; }

  // What the stream is connected to.
  Kind kind = Kind::kNull;
  // kFile only: the file. stdin opens it read-only; stdout/stderr create it
  // (mode 0644) if missing.
  std::string path;
  // kFile on stdout/stderr only: append instead of truncating.
  bool append = false;
};

// setrlimit() values applied in the child. kUnchanged keeps what the parent
// has. A value above the parent's hard limit cannot be granted: Start()
// fails with PERMISSION_DENIED naming the limit.
struct ResourceLimits {
  static constexpr int64_t kUnchanged = -1;

  // RLIMIT_AS: virtual address space in bytes; allocations beyond it fail.
  int64_t address_space_bytes = kUnchanged;
  // RLIMIT_CPU: CPU seconds. The child gets SIGXCPU when it uses them up
  // and SIGKILL one second later.
  int64_t cpu_seconds = kUnchanged;
  // RLIMIT_FSIZE: largest file the child may write, in bytes; writing past
  // it raises SIGXFSZ.
  int64_t file_size_bytes = kUnchanged;
  // RLIMIT_CORE: core dump size in bytes; 0 disables core dumps.
  int64_t core_file_bytes = kUnchanged;
  // RLIMIT_NOFILE: one more than the highest descriptor number the child
  // may open.
  int64_t open_files = kUnchanged;
};

struct SubprocessOptions {
  // Program and arguments; must not be empty. argv[0] is run as given when
  // it contains a '/', otherwise looked up in the PATH entry of `env` (or
  // /usr/local/bin:/usr/bin:/bin when `env` has none), as execvp would.
  // Relative paths (of the program and of kFile streams) are taken against
  // the parent's working directory, not working_dir.
  std::vector<std::string> argv;
  // The child's whole environment, "NAME=value" entries. Empty means an
  // empty environment; use CurrentEnvironment() to pass the parent's.
  std::vector<std::string> env;
  // Working directory of the child; empty keeps the parent's.
  std::string working_dir;
  // The standard streams. The defaults suit running an untrusted or batch
  // command: no input, both outputs captured.
  StreamTarget stdin_target = StreamTarget::Null();
  StreamTarget stdout_target = StreamTarget::Pipe();
  StreamTarget stderr_target = StreamTarget::Pipe();
  // Resource limits applied in the child before execve().
  ResourceLimits limits;
  // Put the child in a process group of its own. Timeouts, cancellation and
  // the destructor then SIGKILL the whole group (grandchildren included),
  // and so does Wait() once the child has exited, so no helper outlives it.
  // When false those signals go to the child alone.
  bool new_process_group = true;
  // Set PR_SET_NO_NEW_PRIVS: execve() of set-uid programs grants nothing,
  // and unprivileged seccomp filters become possible.
  bool no_new_privs = false;
  // Runs in the child after every other step, just before execve(). It must
  // be async-signal-safe: system calls only, no allocation, no locks, no
  // logging, no writes to memory (the child shares the parent's until
  // execve()). Returns 0 to continue or an errno value to abort the start,
  // which Start() then reports. Installing a seccomp filter here also
  // filters execve() and the error report (write, exit_group), so allow
  // those. Empty: no hook.
  std::function<int()> child_hook;
  // Wall-clock limit counted from Start(). When it passes inside Wait() the
  // child (its group with new_process_group) gets SIGKILL and the result
  // says timed_out. Zero or negative: no limit.
  absl::Duration timeout = absl::ZeroDuration();
  // Wait() keeps at most this many bytes of each piped output stream in the
  // result; the rest is still read (the child never blocks on a full pipe)
  // and passed to on_output, then dropped.
  int64_t max_output_bytes = int64_t{1} << 20;
  // After the child has exited, Wait() keeps reading its output pipes until
  // they close or this much time passes (a helper that left the group may
  // still hold them).
  absl::Duration drain_timeout = absl::Seconds(2);
};

// What Wait() observed.
struct SubprocessResult {
  // Exit status when the child exited normally; -1 when a signal ended it
  // (or its status was lost: SIGCHLD ignored, so the kernel reaped it).
  int exit_code = -1;
  // Signal that ended the child; 0 when it exited normally.
  int term_signal = 0;
  // The raw status from waitpid(), for callers that use the W* macros.
  int wait_status = 0;
  // Killed because SubprocessOptions::timeout passed.
  bool timed_out = false;
  // Killed because the `cancelled` callback of Wait() returned true.
  bool cancelled = false;
  // Captured output of kPipe streams (the first max_output_bytes of each;
  // merged output lands in stdout_text).
  std::string stdout_text;
  std::string stderr_text;
  // Output beyond max_output_bytes was dropped.
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  // From Start() to the end of Wait().
  absl::Duration elapsed;

  // Exited by itself with status 0.
  bool Succeeded() const { return exit_code == 0 && !timed_out && !cancelled; }
};

// Callbacks for Wait().
struct SubprocessWaitHooks {
  enum class Stream { kStdout, kStderr };
  // Polled about every poll_interval; returning true kills the child (its
  // group with new_process_group). Empty: never cancelled.
  std::function<bool()> cancelled;
  // How often `cancelled` is polled.
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Receives every chunk read from a piped output stream, including what is
  // beyond max_output_bytes (for logs and rolling tails). Empty: none.
  std::function<void(Stream, absl::string_view)> on_output;
};

// One child process. Not thread-safe: one thread drives an instance. Owns
// the child and the parent ends of its pipes; the destructor SIGKILLs a
// child (group) that was not waited for, reaps it and closes the pipes.
class Subprocess {
 public:
  // Starts the child and blocks until it has exec'd (or failed to). Returns
  //   INVALID_ARGUMENT   empty argv, or kStdout used for stdin/stdout;
  //   NOT_FOUND          the program does not exist / is not on PATH;
  //   PERMISSION_DENIED  it is not executable, or a limit above the hard
  //                      limit was asked for;
  //   an errno-derived status naming the failed step (open a stdio file,
  //   chdir, setrlimit, child hook, execve, fork) otherwise.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      SubprocessOptions options);

  // Start() then Wait(). Blocks until the child has ended.
  static absl::StatusOr<SubprocessResult> Run(
      SubprocessOptions options, const SubprocessWaitHooks& hooks = {});

  // The parent's environment as "NAME=value" entries.
  static std::vector<std::string> CurrentEnvironment();

  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // Parent end of the stdout pipe (kPipe only, -1 otherwise or after
  // CloseStdout()). Still owned by this object.
  int stdout_fd() const { return stdout_fd_; }

  // Reads one line (without the '\n') from the stdout pipe. Blocks until a
  // whole line arrived, or returns OUT_OF_RANGE when the pipe closed first
  // (the child exited), DEADLINE_EXCEEDED at `deadline`, FAILED_PRECONDITION
  // when stdout is not a pipe. Bytes after the line are kept for the next
  // call or for Wait()'s stdout_text.
  absl::StatusOr<std::string> ReadStdoutLine(absl::Time deadline);

  // Closes the parent end of the stdout pipe; the child's later writes to
  // stdout fail with EPIPE (or SIGPIPE).
  void CloseStdout();

  // Sends `signal` to the child alone. FAILED_PRECONDITION once reaped.
  absl::Status Signal(int signal);

  // True when the child has exited (it is not reaped: Wait() still returns
  // its status). Does not block.
  bool HasExited() const;

  // Blocks until the child ends, the timeout passes or `hooks.cancelled`
  // returns true, collecting piped output; then reaps it. Call once:
  // FAILED_PRECONDITION afterwards.
  absl::StatusOr<SubprocessResult> Wait(const SubprocessWaitHooks& hooks = {});

 private:
  Subprocess(SubprocessOptions options, pid_t pid, absl::Time start);

  // SIGKILL to the group (new_process_group) or the child.
  void KillAll();

  const SubprocessOptions options_;
  const pid_t pid_;
  const absl::Time start_;
  bool reaped_ = false;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  // pidfd of the child (-1 when the kernel has none); readable at exit.
  int pid_fd_ = -1;
  // Read by ReadStdoutLine() past the last returned line.
  std::string stdout_pending_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_SUBPROCESS_H_
