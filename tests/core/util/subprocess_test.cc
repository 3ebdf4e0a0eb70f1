// Subprocess against real programs: /bin/sh, /bin/true, /usr/bin/env, sleep.
#include "core/util/subprocess.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SubprocessOptions Shell(const std::string& script) {
  SubprocessOptions options;
  options.argv = {"/bin/sh", "-c", script};
  options.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  options.timeout = absl::Seconds(60);
  return options;
}

// State letter of /proc/<pid>/stat; 'X' when the process is gone.
char ProcessState(pid_t pid) {
  const std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  const size_t close = stat.rfind(')');
  if (stat.empty() || close == std::string::npos) return 'X';
  return stat[close + 2];
}

// Waits (bounded) until `pid` is gone or a zombie; death is asynchronous.
char WaitUntilDead(pid_t pid) {
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  char state = ProcessState(pid);
  while (state != 'X' && state != 'Z' && absl::Now() < give_up) {
    usleep(10000);  // polling another process's state
    state = ProcessState(pid);
  }
  return state;
}

TEST(SubprocessTest, ReportsExitCodesAndOutput) {
  auto ok = Subprocess::Run(Shell("echo out; echo err >&2; exit 0"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->Succeeded());
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->term_signal, 0);
  EXPECT_EQ(ok->stdout_text, "out\n");
  EXPECT_EQ(ok->stderr_text, "err\n");

  auto three = Subprocess::Run(Shell("exit 3"));
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->exit_code, 3);
  EXPECT_FALSE(three->Succeeded());
  EXPECT_TRUE(WIFEXITED(three->wait_status));

  SubprocessOptions t;
  t.argv = {"/bin/true"};
  auto truth = Subprocess::Run(t);
  ASSERT_TRUE(truth.ok()) << truth.status();
  EXPECT_EQ(truth->exit_code, 0);
}

TEST(SubprocessTest, ReportsTheTerminatingSignal) {
  auto r = Subprocess::Run(Shell("kill -TERM $$"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->term_signal, SIGTERM);
  EXPECT_FALSE(r->timed_out);

  auto started = Subprocess::Start(Shell("exec sleep 300"));
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_FALSE((*started)->HasExited());
  ASSERT_TRUE((*started)->Signal(SIGUSR1).ok());
  auto waited = (*started)->Wait();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(waited->term_signal, SIGUSR1);
  EXPECT_EQ((*started)->Wait().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*started)->Signal(SIGTERM).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SubprocessTest, TimeoutKillsTheWholeGroupIncludingAGrandchild) {
  auto options = Shell("sleep 300 & echo $!; wait");
  options.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  auto r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->term_signal, SIGKILL);
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  int grandchild = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(absl::StripSuffix(r->stdout_text, "\n"), &grandchild))
      << r->stdout_text;
  const char state = WaitUntilDead(grandchild);
  EXPECT_TRUE(state == 'X' || state == 'Z') << "grandchild state " << state;
}

TEST(SubprocessTest, StragglersOfTheGroupDieWhenTheChildExits) {
  // The helper closes its copy of stdout so the pipe ends with the child.
  auto r = Subprocess::Run(Shell("sleep 300 >/dev/null & echo $!"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  int helper = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(absl::StripSuffix(r->stdout_text, "\n"), &helper));
  const char state = WaitUntilDead(helper);
  EXPECT_TRUE(state == 'X' || state == 'Z') << "helper state " << state;
}

TEST(SubprocessTest, CancellationKillsTheChild) {
  int polls = 0;
  SubprocessWaitHooks hooks;
  hooks.cancelled = [&polls] { return ++polls >= 3; };
  hooks.poll_interval = absl::Milliseconds(10);
  auto r = Subprocess::Run(Shell("exec sleep 300"), hooks);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cancelled);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->term_signal, SIGKILL);
  EXPECT_EQ(polls, 3);
}

TEST(SubprocessTest, CpuLimitEndsABusyChild) {
  auto options = Shell("while :; do :; done");
  options.limits.cpu_seconds = 1;
  auto r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->term_signal == SIGXCPU || r->term_signal == SIGKILL)
      << r->term_signal;
}

TEST(SubprocessTest, LimitsAreVisibleInTheChild) {
  auto options = Shell("ulimit -n; ulimit -c; ulimit -f; ulimit -v");
  options.limits.open_files = 64;
  options.limits.core_file_bytes = 0;
  options.limits.file_size_bytes = 1 << 20;
  options.limits.address_space_bytes = int64_t{4} << 30;
  auto r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  // sh reports -f in 512-byte blocks and -v in KiB.
  EXPECT_EQ(r->stdout_text, "64\n0\n2048\n4194304\n");
}

TEST(SubprocessTest, FileSizeLimitRaisesSigxfsz) {
  pruneserve::testing::TempDir tmp;
  auto options = Shell("head -c 100000 /dev/zero > " + tmp.Join("big"));
  options.limits.file_size_bytes = 1000;
  auto r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  // head dies of SIGXFSZ; sh reports it as 128 + signal.
  EXPECT_EQ(r->exit_code, 128 + SIGXFSZ) << r->stderr_text;
}

TEST(SubprocessTest, EnvironmentIsExactlyWhatWasGiven) {
  setenv("PRUNESERVE_SUBPROCESS_TEST_SECRET", "hunter2", 1);
  SubprocessOptions options;
  options.argv = {"/usr/bin/env"};
  auto empty = Subprocess::Run(options);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->exit_code, 0);
  EXPECT_EQ(empty->stdout_text, "");

  options.env = {"A=1", "B=two words"};
  auto two = Subprocess::Run(options);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->stdout_text, "A=1\nB=two words\n");

  options.env = Subprocess::CurrentEnvironment();
  auto inherited = Subprocess::Run(options);
  ASSERT_TRUE(inherited.ok()) << inherited.status();
  EXPECT_THAT(inherited->stdout_text,
              HasSubstr("PRUNESERVE_SUBPROCESS_TEST_SECRET=hunter2\n"));
}

TEST(SubprocessTest, OutputIsCappedButFullyRead) {
  // 200 KB, well past the pipe buffer: the child must not block.
  auto options = Shell("head -c 200000 /dev/zero; echo the-end >&2");
  options.max_output_bytes = 1000;
  int64_t streamed = 0;
  SubprocessWaitHooks hooks;
  hooks.on_output = [&](SubprocessWaitHooks::Stream stream,
                        absl::string_view data) {
    if (stream == SubprocessWaitHooks::Stream::kStdout) {
      streamed += static_cast<int64_t>(data.size());
    }
  };
  auto r = Subprocess::Run(options, hooks);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_text.size(), 1000u);
  EXPECT_TRUE(r->stdout_truncated);
  EXPECT_EQ(r->stderr_text, "the-end\n");
  EXPECT_FALSE(r->stderr_truncated);
  EXPECT_EQ(streamed, 200000);
}

TEST(SubprocessTest, StreamsGoToFilesNullOrMergedOutput) {
  pruneserve::testing::TempDir tmp;
  std::ofstream(tmp.Join("in.txt")) << "from a file\n";
  auto options = Shell("cat; echo to-err >&2; pwd");
  options.stdin_target = StreamTarget::File(tmp.Join("in.txt"));
  options.stdout_target = StreamTarget::File(tmp.Join("out.txt"));
  options.stderr_target = StreamTarget::SameAsStdout();
  options.working_dir = tmp.path();
  auto r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_text, "");
  EXPECT_EQ(ReadAll(tmp.Join("out.txt")),
            "from a file\nto-err\n" + tmp.path() + "\n");

  // Append mode keeps what was there; a null stdin reads end-of-file.
  options = Shell("if read x; then echo got; else echo eof; fi");
  options.stdout_target = StreamTarget::File(tmp.Join("out.txt"), true);
  r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(ReadAll(tmp.Join("out.txt")), HasSubstr("\neof\n"));
  EXPECT_EQ(ReadAll(tmp.Join("out.txt")).rfind("from a file", 0), 0u);

  // Merged output into a pipe.
  options = Shell("echo a; echo b >&2");
  options.stderr_target = StreamTarget::SameAsStdout();
  r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_text, "a\nb\n");
}

TEST(SubprocessTest, ReadsStdoutLineByLine) {
  auto p = Subprocess::Start(Shell("echo one; echo two; exec sleep 300"));
  ASSERT_TRUE(p.ok()) << p.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  EXPECT_EQ(*(*p)->ReadStdoutLine(deadline), "one");
  EXPECT_EQ(*(*p)->ReadStdoutLine(deadline), "two");
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Now() + absl::Milliseconds(50))
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE((*p)->Signal(SIGTERM).ok());
  EXPECT_EQ((*p)->ReadStdoutLine(deadline).status().code(),
            absl::StatusCode::kOutOfRange);

  // Bytes after the last line read stay for Wait().
  auto q = Subprocess::Start(Shell("printf 'first\\nrest'"));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*(*q)->ReadStdoutLine(deadline), "first");
  auto r = (*q)->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_text, "rest");
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  SubprocessOptions options;
  options.argv = {"/nonexistent/program"};
  auto r = Subprocess::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/program"));

  options.argv = {"no-such-program-4242"};
  options.env = {"PATH=/bin:/usr/bin"};
  r = Subprocess::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(),
              HasSubstr("'no-such-program-4242' is not an executable on PATH "
                        "(/bin:/usr/bin)"));

  // Found on PATH when given without a slash.
  options.argv = {"true"};
  auto ok = Subprocess::Run(options);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->exit_code, 0);

  pruneserve::testing::TempDir tmp;
  std::ofstream(tmp.Join("not-exec")) << "#!/bin/sh\n";
  options.argv = {tmp.Join("not-exec")};
  EXPECT_EQ(Subprocess::Start(options).status().code(),
            absl::StatusCode::kPermissionDenied);

  // An interpreter that does not exist fails at execve() in the child.
  std::ofstream(tmp.Join("bad-interp")) << "#!/nonexistent/interp\n";
  chmod(tmp.Join("bad-interp").c_str(), 0700);
  options.argv = {tmp.Join("bad-interp")};
  r = Subprocess::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("execute"));

  options.argv.clear();
  EXPECT_EQ(Subprocess::Start(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SubprocessTest, RelativeProgramPathsIgnoreWorkingDir) {
  pruneserve::testing::TempDir tmp;
  const std::string tool = tmp.Join("tool");
  std::ofstream(tool) << "#!/bin/sh\npwd\n";
  chmod(tool.c_str(), 0700);
  mkdir(tmp.Join("elsewhere").c_str(), 0700);
  SubprocessOptions options;
  options.argv = {std::filesystem::relative(tool).string()};
  ASSERT_NE(options.argv[0].front(), '/');
  options.working_dir = tmp.Join("elsewhere");
  auto r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_text, tmp.Join("elsewhere") + "\n");
}

TEST(SubprocessTest, ChildSetupFailuresAreReported) {
  auto options = Shell("true");
  options.working_dir = "/nonexistent/dir";
  auto r = Subprocess::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("working directory"));

  options = Shell("true");
  options.child_hook = [] { return EPERM; };
  r = Subprocess::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("child hook"));

  options = Shell("true");
  options.limits.open_files = int64_t{1} << 40;
  EXPECT_EQ(Subprocess::Start(options).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(SubprocessTest, HookAndNoNewPrivsApplyBeforeExec) {
  auto options = Shell("umask; grep NoNewPrivs /proc/self/status");
  options.no_new_privs = true;
  options.child_hook = [] {
    ::umask(077);
    return 0;
  };
  auto r = Subprocess::Run(options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->stdout_text, HasSubstr("0077\n"));
  EXPECT_THAT(r->stdout_text,
              ::testing::MatchesRegex("(.|\n)*NoNewPrivs:[ \t]*1\n"));
}

TEST(SubprocessTest, IgnoredSigchldDoesNotHangWait) {
  // With SIGCHLD ignored the kernel reaps children itself: the status is
  // lost, but Wait() must still return, and output is still collected.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &previous), 0);
  auto r = Subprocess::Run(Shell("echo done"));
  ::sigaction(SIGCHLD, &previous, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->stdout_text, "done\n");
}

TEST(SubprocessTest, OnlyStandardDescriptorsReachTheChild) {
  pruneserve::testing::TempDir tmp;
  // A descriptor of the parent without close-on-exec.
  const int leaked = ::open(tmp.Join("x").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(leaked, 0);
  auto r = Subprocess::Run(Shell("ls /proc/self/fd"));
  ::close(leaked);
  ASSERT_TRUE(r.ok()) << r.status();
  // 0, 1, 2 and the descriptor ls opens to read the directory.
  EXPECT_THAT(r->stdout_text, ::testing::MatchesRegex("0\n1\n2\n[0-9]+\n"));
}

}  // namespace
}  // namespace pruneserve
