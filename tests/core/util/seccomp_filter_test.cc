#include "core/util/seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>

#include "core/util/subprocess.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

// Runs `script` with /bin/bash under `filter` (installed in the child just
// before exec, with no_new_privs) and returns its merged output.
SubprocessResult RunFiltered(const SeccompFilter& filter,
                             const std::string& script) {
  SubprocessOptions options;
  options.argv = {"/bin/bash", "-c", script};
  options.stderr_target = StreamTarget::SameAsStdout();
  options.no_new_privs = true;
  options.child_hook = [&filter] { return filter.Install(false); };
  options.timeout = absl::Seconds(30);
  absl::StatusOr<SubprocessResult> r = Subprocess::Run(options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SubprocessResult();
}

class SeccompFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!SeccompFilter::Supported()) GTEST_SKIP() << "architecture";
    // PR_GET_SECCOMP fails with EINVAL on kernels without seccomp.
    if (::prctl(PR_GET_SECCOMP) < 0) GTEST_SKIP() << "kernel has no seccomp";
  }
  testing::TempDir dir_;
};

TEST_F(SeccompFilterTest, WritingOpensFailWhileReadsWork) {
  SeccompFilter filter;
  filter.DenyIfArgHasBits(SYS_openat, 2, O_WRONLY | O_RDWR | O_CREAT, EACCES);
  const std::string file = dir_.Join("written");
  SubprocessResult r = RunFiltered(
      filter, "read -r line < /etc/passwd && echo read-ok; echo x > " + file +
                  " || echo write-refused");
  EXPECT_NE(r.stdout_text.find("read-ok"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("Permission denied"), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("write-refused"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(SeccompFilterTest, DeniedCallFailsWithTheGivenErrno) {
  SeccompFilter filter;
  filter.Deny(SYS_socket, EACCES);
  // bash opens /dev/tcp paths with socket() + connect().
  SubprocessResult r = RunFiltered(
      filter, "exec 3<>/dev/tcp/127.0.0.1/9 || echo socket-refused");
  EXPECT_NE(r.stdout_text.find("Permission denied"), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("socket-refused"), std::string::npos);
}

TEST_F(SeccompFilterTest, ArgumentAllowListLetsOnlyListedValuesThrough) {
  SeccompFilter filter;
  // kill() only of the own process group (pid argument 0).
  filter.DenyUnlessArgIn(SYS_kill, 0, {0}, EPERM);
  SubprocessResult r = RunFiltered(
      filter, "kill -0 0 && echo group-ok; kill -0 1 || echo init-refused");
  EXPECT_NE(r.stdout_text.find("group-ok"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("Operation not permitted"), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("init-refused"), std::string::npos);
}

TEST_F(SeccompFilterTest, UnfilteredProcessIsUnaffected) {
  SeccompFilter filter;
  filter.Deny(SYS_socket, EACCES);
  // Building (not installing) changes nothing in this process.
  EXPECT_GT(filter.program().size(), 4u);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  if (fd >= 0) ::close(fd);
}

}  // namespace
}  // namespace pruneserve
