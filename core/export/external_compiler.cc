#include "core/export/external_compiler.h"

#include <fcntl.h>
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
#include "core/util/subprocess.h"

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

  const std::vector<std::pair<std::string, std::string>> values = {
      {"export_dir", export_dir},
      {"output_dir", output_dir},
      {"work_dir", result.work_dir},
      {"name", request.name},
      {"arch", options_.arch}};
  SubprocessOptions command;
  for (const std::string& word : words_) {
    PS_ASSIGN_OR_RETURN(std::string arg, Substitute(word, values));
    command.argv.push_back(std::move(arg));
  }
  for (const std::string& name : options_.env_allowlist) {
    if (name == "TMPDIR") continue;
    if (const char* v = std::getenv(name.c_str())) {
      command.env.push_back(absl::StrCat(name, "=", v));
    }
  }
  command.env.push_back("TMPDIR=" + tmp_dir);
  command.working_dir = result.work_dir;
  command.stdin_target = StreamTarget::Null();
  command.stdout_target = StreamTarget::Pipe();
  command.stderr_target = StreamTarget::SameAsStdout();
  command.new_process_group = true;
  command.timeout = options_.timeout;
  // compile.log and the tail below keep what matters.
  command.max_output_bytes = 0;

  const int log_fd = open(result.log_path.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return fail(ErrnoToStatus(errno, "create " + result.log_path));
  }
  const std::string banner =
      absl::StrCat("$ ", absl::StrJoin(command.argv, " "), "\n");
  int64_t logged =
      std::max<int64_t>(0, write(log_fd, banner.data(), banner.size()));
  TailBuffer tail(static_cast<size_t>(options_.error_tail_bytes));
  bool truncated = false;
  SubprocessWaitHooks hooks;
  hooks.cancelled = cancelled;
  hooks.poll_interval = options_.poll_interval;
  hooks.on_output = [&](SubprocessWaitHooks::Stream, absl::string_view data) {
    tail.Append(data.data(), data.size());
    const int64_t n = static_cast<int64_t>(data.size());
    const int64_t room = options_.max_log_bytes - logged;
    if (room > 0) {
      const int64_t k = std::min<int64_t>(room, n);
      if (write(log_fd, data.data(), static_cast<size_t>(k)) == k) logged += k;
    }
    if (n > room) truncated = true;
  };

  const absl::Time start = absl::Now();
  auto run = Subprocess::Run(std::move(command), hooks);
  if (truncated) {
    const std::string note =
        absl::StrCat("\n[log cut at ", options_.max_log_bytes, " bytes]\n");
    (void)!write(log_fd, note.data(), note.size());
  }
  close(log_fd);
  result.elapsed = absl::Now() - start;
  if (!run.ok()) {
    if (absl::IsNotFound(run.status()) ||
        absl::IsPermissionDenied(run.status())) {
      return fail(absl::FailedPreconditionError(MissingToolchainMessage(
          options_, absl::StrCat("compile command ", run.status().message()))));
    }
    return fail(run.status());
  }

  const std::string log_tail = tail.Get();
  const std::string where =
      absl::StrCat("; log ", result.log_path, ", last output:\n", log_tail);
  if (run->cancelled) {
    return fail(absl::CancelledError(absl::StrCat(
        "compile of ", request.name, " cancelled after ",
        absl::FormatDuration(result.elapsed), "; log ", result.log_path)));
  }
  if (run->timed_out) {
    return fail(absl::DeadlineExceededError(
        absl::StrCat("compile of ", request.name, " did not finish within ",
                     absl::FormatDuration(options_.timeout),
                     "; its process group was killed", where)));
  }
  if (run->term_signal != 0) {
    return fail(absl::InternalError(absl::StrCat(
        "compile command was killed by signal ", run->term_signal, where)));
  }
  const int code = run->exit_code;
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
