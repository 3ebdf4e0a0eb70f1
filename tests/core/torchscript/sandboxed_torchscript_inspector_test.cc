// The validator runs as the built pruneserve binary in validator mode, as in
// the server.
#include "core/torchscript/sandboxed_torchscript_inspector.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "core/torchscript/torchscript_inspector.h"
#include "core/torchscript/torchscript_validator.h"
#include "gtest/gtest.h"
#include "tests/testing/hostile_models.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

SandboxedTorchScriptInspectorOptions ValidatorOptions() {
  SandboxedTorchScriptInspectorOptions options;
  options.validator_argv = {testing::BuiltBinary("server/pruneserve"),
                            kTorchScriptValidatorFlag};
  options.timeout = absl::Seconds(60);
  return options;
}

absl::Status Inspect(const SandboxedTorchScriptInspectorOptions& options,
                     const std::string& path, v1::ModelVersion* model) {
  auto inspector = SandboxedTorchScriptInspector::Create(options);
  if (!inspector.ok()) return inspector.status();
  return (*inspector)->Inspect(path, model);
}

v1::ModelVersion WithExample(std::initializer_list<int64_t> shape) {
  v1::ModelVersion model;
  for (int64_t d : shape) model.add_example_input_shape(d);
  return model;
}

TEST(SandboxedTorchScriptInspectorTest, ReportsWhatTheInProcessInspectorDoes) {
  testing::TempDir dir;
  const std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  v1::ModelVersion sandboxed = WithExample({2, 1, 28, 28});
  ASSERT_TRUE(Inspect(ValidatorOptions(), path, &sandboxed).ok());
  v1::ModelVersion in_process = WithExample({2, 1, 28, 28});
  ASSERT_TRUE(TorchScriptInspector().Inspect(path, &in_process).ok());
  EXPECT_EQ(sandboxed.parameter_count(), 36 + 8 + 50);
  EXPECT_EQ(sandboxed.parameter_bytes(), in_process.parameter_bytes());
  EXPECT_EQ(sandboxed.forward_input_count(), 1);
  ASSERT_EQ(sandboxed.output_shape_size(), 2);
  EXPECT_EQ(sandboxed.output_shape(0), 2);
  EXPECT_EQ(sandboxed.output_shape(1), 10);
  EXPECT_EQ(sandboxed.flops(), in_process.flops());
  EXPECT_GT(sandboxed.flops(), 0);
}

TEST(SandboxedTorchScriptInspectorTest, ErrorsOfTheInspectorComeBackAsThey) {
  testing::TempDir dir;
  const std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  v1::ModelVersion model = WithExample({1, 3, 28, 28});  // 3 != 1 channel
  absl::Status s = Inspect(ValidatorOptions(), path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[1,3,28,28]"), std::string::npos) << s;
  EXPECT_EQ(model.output_shape_size(), 0);
}

TEST(SandboxedTorchScriptInspectorTest, FromFileIsRefusedNamingTheOp) {
  testing::TempDir dir;
  const std::string path = dir.Join("from_file.pt");
  testing::WriteFromFileModel(path);
  v1::ModelVersion model = WithExample({1, 1, 28, 28});
  absl::Status s = Inspect(ValidatorOptions(), path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("forbidden op aten::from_file"), std::string::npos)
      << s;
}

TEST(SandboxedTorchScriptInspectorTest, EndlessForwardIsKilledAtTheTimeout) {
  testing::TempDir dir;
  const std::string path = dir.Join("endless.pt");
  testing::WriteEndlessForwardModel(path);
  SandboxedTorchScriptInspectorOptions options = ValidatorOptions();
  options.timeout = absl::Seconds(2);
  v1::ModelVersion model = WithExample({1, 1, 28, 28});
  absl::Status s = Inspect(options, path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("did not finish within 2s"), std::string::npos)
      << s;
}

std::string ReadProcFile(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name,
                   std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A running validator started by this process, or -1.
pid_t FindValidator() {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    const std::string stat = ReadProcFile(pid, "stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    // "pid (comm) state ppid ...".
    int ppid = 0;
    std::string rest = stat.substr(paren + 4);
    if (!absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &ppid) ||
        ppid != ::getpid()) {
      continue;
    }
    if (absl::StrContains(ReadProcFile(pid, "cmdline"),
                          kTorchScriptValidatorFlag)) {
      return pid;
    }
  }
  return -1;
}

TEST(SandboxedTorchScriptInspectorTest, ValidatorRunsInsideItsBox) {
  testing::TempDir dir;
  const std::string path = dir.Join("endless.pt");
  testing::WriteEndlessForwardModel(path);
  SandboxedTorchScriptInspectorOptions options = ValidatorOptions();
  options.timeout = absl::Seconds(8);
  options.cpu_seconds = 30;
  options.address_space_bytes = int64_t{6} << 30;
  absl::Status status;
  std::atomic<bool> done{false};
  std::thread upload([&] {
    v1::ModelVersion model = WithExample({1, 1, 28, 28});
    status = Inspect(options, path, &model);
    done = true;
  });
  // Look at the validator while its forward loops (until the timeout).
  pid_t pid = -1;
  std::string proc_status;
  while (!done) {
    pid = FindValidator();
    if (pid > 0) {
      proc_status = ReadProcFile(pid, "status");
      // The runtime filter is on once the forward runs.
      if (absl::StrContains(proc_status, "Seccomp_filters:\t2")) break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(absl::StrContains(proc_status, "NoNewPrivs:\t1")) << proc_status;
  EXPECT_TRUE(absl::StrContains(proc_status, "Seccomp:\t2")) << proc_status;
  EXPECT_EQ(ReadProcFile(pid, "environ"), "");
  EXPECT_EQ(::getpgid(pid), pid);
  const std::string limits = ReadProcFile(pid, "limits");
  EXPECT_TRUE(absl::StrContains(limits, "Max cpu time              30"))
      << limits;
  EXPECT_TRUE(absl::StrContains(limits, "Max file size             0"))
      << limits;
  EXPECT_TRUE(absl::StrContains(limits, "Max core file size        0"))
      << limits;
  EXPECT_TRUE(absl::StrContains(limits, "Max address space         6442450944"))
      << limits;
  upload.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST(SandboxedTorchScriptInspectorTest, CpuLimitEndsAnEndlessForward) {
  testing::TempDir dir;
  const std::string path = dir.Join("endless.pt");
  testing::WriteEndlessForwardModel(path);
  SandboxedTorchScriptInspectorOptions options = ValidatorOptions();
  options.cpu_seconds = 1;
  options.timeout = absl::Seconds(120);
  v1::ModelVersion model = WithExample({1, 1, 28, 28});
  absl::Status s = Inspect(options, path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("CPU time limit of 1 s"), std::string::npos) << s;
}

TEST(SandboxedTorchScriptInspectorTest, LoaderCrashIsInvalidArgument) {
  testing::TempDir dir;
  const std::string path = dir.Join("crash.pt");
  testing::WriteLoadCrashingArchive(path);
  v1::ModelVersion model;
  absl::Status s = Inspect(ValidatorOptions(), path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("the validator process died of signal 11"),
            std::string::npos)
      << s;
}

TEST(SandboxedTorchScriptInspectorTest, MemoryLimitStopsAHugeAllocation) {
  testing::TempDir dir;
  const std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  SandboxedTorchScriptInspectorOptions options = ValidatorOptions();
  options.address_space_bytes = int64_t{3} << 30;
  // 4 GiB of float input cannot be allocated under a 3 GiB address space.
  options.max_example_elements = int64_t{1} << 31;
  v1::ModelVersion model = WithExample({1, 1, 32768, 32768});
  absl::Status s = Inspect(options, path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("alloc"), std::string::npos) << s;
}

TEST(SandboxedTorchScriptInspectorTest, ZipBombIsRefusedWithoutAValidator) {
  testing::TempDir dir;
  const std::string path = dir.Join("bomb.pt");
  testing::WriteZipBombModel(path, int64_t{1} << 30);
  SandboxedTorchScriptInspectorOptions options;
  // A validator that cannot start: the cap must refuse before it is needed.
  options.validator_argv = {"/nonexistent/validator"};
  options.archive_limits.max_uncompressed_bytes = int64_t{256} << 20;
  v1::ModelVersion model;
  absl::Status s = Inspect(options, path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;

  // The same options reach the validator with a small model, and fail there.
  testing::WriteTinyCnn(dir.Join("tiny.pt"));
  s = Inspect(options, dir.Join("tiny.pt"), &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("cannot start the TorchScript validator"),
            std::string::npos)
      << s;
}

TEST(SandboxedTorchScriptInspectorTest, CreateNeedsACommand) {
  EXPECT_EQ(SandboxedTorchScriptInspector::Create({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve
