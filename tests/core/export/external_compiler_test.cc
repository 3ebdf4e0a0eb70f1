// The external compile step against fake toolchains: small shell scripts the
// tests write, standing in for compile_xmodel.sh / vai_c_xir.
#include "core/export/external_compiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::vitis {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class ExternalCompilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_.Join("bin"));
    fs::create_directories(tmp_.Join("export dir"));
    std::ofstream(tmp_.Join("export dir/manifest.json")) << "{}";
  }

  // Writes an executable script `name` into bin/ and returns its path.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = tmp_.Join("bin/" + name);
    std::ofstream(path) << "#!/bin/sh\n" << body;
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  std::unique_ptr<ExternalCompiler> Compiler(
      const std::string& command,
      ExternalCompilerOptions options = ExternalCompilerOptions()) {
    options.command_template = command;
    options.work_root = tmp_.Join("work");
    options.arch = "/fake/arch.json";
    auto c = ExternalCompiler::Create(options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  CompileRequest Request() const {
    return CompileRequest{tmp_.Join("export dir"), "net"};
  }

  pruneserve::testing::TempDir tmp_;
};

TEST_F(ExternalCompilerTest, SuccessFindsTheXmodelInASandbox) {
  setenv("PRUNESERVE_TEST_SECRET", "hunter2", 1);
  const std::string tool = Script("fake_vai_c_xir", R"SH(
echo "args: $#"
echo "export: $2"
echo "arch: $8"
echo "cwd: $(pwd)"
echo "tmpdir: $TMPDIR"
echo "secret: ${PRUNESERVE_TEST_SECRET:-unset}"
if read line; then echo "stdin: data"; else echo "stdin: eof"; fi
echo "warning on stderr" >&2
test -f "$2/manifest.json" || exit 3
echo xmodel > "$4/$6.xmodel"
echo '{}' > "$4/meta.json"
)SH");
  auto compiler =
      Compiler(tool +
               " --export-dir {export_dir} --output-dir {output_dir} "
               "--name {name} --arch {arch}");
  ASSERT_NE(compiler, nullptr);
  auto result = compiler->Compile(Request());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->xmodel_path, result->work_dir + "/out/net.xmodel");
  EXPECT_EQ(ReadAll(result->xmodel_path), "xmodel\n");
  EXPECT_EQ(fs::path(result->work_dir).parent_path(), tmp_.Join("work"));
  EXPECT_THAT(fs::path(result->work_dir).filename().string(),
              ::testing::StartsWith("net-"));
  const std::string log = ReadAll(result->log_path);
  EXPECT_THAT(log, HasSubstr("$ " + tool + " --export-dir"));
  // A placeholder value with a space stays one argument.
  EXPECT_THAT(log, HasSubstr("args: 8\n"));
  EXPECT_THAT(log, HasSubstr("export: " + tmp_.Join("export dir") + "\n"));
  EXPECT_THAT(log, HasSubstr("arch: /fake/arch.json\n"));
  EXPECT_THAT(log, HasSubstr("cwd: " + result->work_dir + "\n"));
  EXPECT_THAT(log, HasSubstr("tmpdir: " + result->work_dir + "/tmp\n"));
  EXPECT_THAT(log, HasSubstr("secret: unset\n"));
  EXPECT_THAT(log, HasSubstr("stdin: eof\n"));
  EXPECT_THAT(log, HasSubstr("warning on stderr\n"));
  unsetenv("PRUNESERVE_TEST_SECRET");
}

TEST_F(ExternalCompilerTest, NonZeroExitIsInternalWithTheLogTail) {
  const std::string tool = Script(
      "fail", "echo 'quantizer: unsupported op aten::foo' >&2\nexit 1\n");
  auto result = Compiler(tool + " {export_dir}")->Compile(Request());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.status().message(), HasSubstr("exited with status 1"));
  EXPECT_THAT(result.status().message(),
              HasSubstr("quantizer: unsupported op aten::foo"));
  EXPECT_THAT(result.status().message(), HasSubstr("compile.log"));
}

TEST_F(ExternalCompilerTest, MissingToolIsFailedPrecondition) {
  ExternalCompilerOptions options;
  options.command_flag = "--my_compile_flag";
  auto result = Compiler("no-such-vitis-tool-4242 {export_dir}", options)
                    ->Compile(Request());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(),
              HasSubstr("'no-such-vitis-tool-4242' is not an executable"));
  EXPECT_THAT(result.status().message(), HasSubstr("vai_c_xir"));
  EXPECT_THAT(result.status().message(), HasSubstr("--my_compile_flag"));

  // A wrapper that exists but cannot find what it runs exits with 127.
  const std::string wrapper =
      Script("wrapper", "exec vai_c_xir_missing \"$@\"\n");
  result = Compiler(wrapper + " {output_dir}")->Compile(Request());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("exited with 127"));
  EXPECT_THAT(result.status().message(), HasSubstr("Vitis AI docker"));
}

TEST_F(ExternalCompilerTest, TimeoutKillsTheWholeProcessGroup) {
  const std::string pid_file = tmp_.Join("helper.pid");
  const std::string tool = Script(
      "hang", "sleep 300 &\necho $! > " + pid_file + "\necho started\nwait\n");
  ExternalCompilerOptions options;
  options.timeout = absl::Milliseconds(500);
  const absl::Time start = absl::Now();
  auto result = Compiler(tool, options)->Compile(Request());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("started"));
  // Killed near the deadline, not after the helper's 300 s.
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
  // The background helper was in the group and got SIGKILL too. Death is
  // asynchronous: wait (bounded) until it is gone or a zombie awaiting its
  // new parent.
  std::string pid = ReadAll(pid_file);
  ASSERT_FALSE(pid.empty());
  pid.pop_back();
  const std::string stat_path = "/proc/" + pid + "/stat";
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  char state = '?';
  while (absl::Now() < give_up) {
    const std::string stat = ReadAll(stat_path);
    const size_t close = stat.rfind(')');
    state =
        (stat.empty() || close == std::string::npos) ? 'X' : stat[close + 2];
    if (state == 'X' || state == 'Z') break;
    usleep(10000);
  }
  EXPECT_TRUE(state == 'X' || state == 'Z') << "helper state " << state;
}

TEST_F(ExternalCompilerTest, CancellationStopsTheCommand) {
  const std::string tool = Script("slow", "echo working\nexec sleep 300\n");
  std::atomic<int> polls{0};
  auto result = Compiler(tool)->Compile(
      Request(), [&polls] { return polls.fetch_add(1) >= 3; });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_GE(polls.load(), 4);
}

TEST_F(ExternalCompilerTest, MissingOrAmbiguousOutputIsInternal) {
  const std::string none = Script("none", "echo done\n");
  auto result = Compiler(none + " {output_dir}")->Compile(Request());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.status().message(), HasSubstr("left 0 .xmodel files in"));
  EXPECT_THAT(result.status().message(), HasSubstr("/out"));

  const std::string two =
      Script("two", "touch \"$1/a.xmodel\" \"$1/b.xmodel\"\n");
  result = Compiler(two + " {output_dir}")->Compile(Request());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.status().message(), HasSubstr("a.xmodel"));
  EXPECT_THAT(result.status().message(), HasSubstr("b.xmodel"));
}

TEST_F(ExternalCompilerTest, LogIsCappedButTheCommandFinishes) {
  // 200 KB of output, far above the pipe buffer and the log cap.
  const std::string tool = Script(
      "chatty",
      "i=0\nwhile [ $i -lt 2000 ]; do\n"
      "  echo "
      "'0123456789012345678901234567890123456789012345678901234567890123456789"
      "012345678901234567890123456789'\n"
      "  i=$((i+1))\ndone\necho the-end\ntouch \"$1/m.xmodel\"\n");
  ExternalCompilerOptions options;
  options.max_log_bytes = 4096;
  options.keep_failed_work_dirs = false;
  auto result = Compiler(tool + " {output_dir}", options)->Compile(Request());
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string log = ReadAll(result->log_path);
  EXPECT_LE(log.size(), 4096u + 64);
  EXPECT_THAT(log, HasSubstr("[log cut at 4096 bytes]"));
  EXPECT_THAT(log, Not(HasSubstr("the-end")));
}

TEST_F(ExternalCompilerTest, FailedWorkDirsAreRemovedWhenAsked) {
  const std::string tool = Script("fail", "exit 5\n");
  ExternalCompilerOptions options;
  options.keep_failed_work_dirs = false;
  auto result = Compiler(tool, options)->Compile(Request());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(fs::is_empty(tmp_.Join("work")));
}

TEST_F(ExternalCompilerTest, RejectsBadOptionsAndRequests) {
  ExternalCompilerOptions options;
  options.work_root = tmp_.Join("work");
  options.command_template = "tool {export_dir} {nope}";
  auto c = ExternalCompiler::Create(options);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("{nope}"));
  options.command_template = "   ";
  EXPECT_EQ(ExternalCompiler::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.command_template = "tool";
  options.timeout = absl::ZeroDuration();
  EXPECT_EQ(ExternalCompiler::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto compiler = Compiler(Script("ok", "exit 0\n"));
  EXPECT_EQ(compiler->Compile({tmp_.Join("missing"), "net"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      compiler->Compile({tmp_.Join("export dir"), "../x"}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::vitis
