#include "core/torchscript/sandboxed_torchscript_inspector.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/torchscript/torchscript_validator.h"
#include "core/torchscript/validator_seccomp.h"
#include "core/util/status_macros.h"
#include "core/util/subprocess.h"
#include "pruneserve/v1/torchscript_validation.pb.h"

namespace pruneserve {
namespace {

// The last line of the validator's stderr, for server-side errors only (the
// uploader never sees what the model printed).
std::string LastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  const size_t nl = t.rfind('\n');
  std::string line = nl == std::string::npos ? t : t.substr(nl + 1);
  if (line.size() > 300) line.resize(300);
  return line;
}

// The status for a validator that did not finish by itself.
absl::Status AbnormalEnd(const SubprocessResult& r,
                         const SandboxedTorchScriptInspectorOptions& options) {
  if (r.timed_out) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TorchScript validation did not finish within ",
        absl::FormatDuration(options.timeout),
        "; the validator process was killed (does forward() terminate on the "
        "example input?)"));
  }
  if (r.term_signal == SIGXCPU) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TorchScript validation used up its CPU time limit of ",
        options.cpu_seconds, " s; the validator process was killed"));
  }
  if (r.term_signal != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a loadable TorchScript archive: the validator process died of "
        "signal ",
        r.term_signal, " (", strsignal(r.term_signal),
        ") while loading or running it"));
  }
  return absl::InternalError(
      absl::StrCat("TorchScript validator exited with code ", r.exit_code, ": ",
                   LastLine(r.stderr_text)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxedTorchScriptInspector>>
SandboxedTorchScriptInspector::Create(
    SandboxedTorchScriptInspectorOptions options) {
  if (options.validator_argv.empty()) {
    return absl::InvalidArgumentError("validator_argv: required");
  }
  if (options.timeout <= absl::ZeroDuration() || options.cpu_seconds <= 0 ||
      options.address_space_bytes <= 0 || options.intra_op_threads <= 0) {
    return absl::InvalidArgumentError(
        "validator timeout, CPU seconds, address space and threads must be "
        "positive");
  }
  return std::unique_ptr<SandboxedTorchScriptInspector>(
      new SandboxedTorchScriptInspector(std::move(options)));
}

SandboxedTorchScriptInspector::SandboxedTorchScriptInspector(
    SandboxedTorchScriptInspectorOptions options)
    : options_(std::move(options)), exec_filter_(ValidatorExecFilter()) {}

absl::Status SandboxedTorchScriptInspector::Inspect(
    const std::string& path, v1::ModelVersion* model) const {
  PS_RETURN_IF_ERROR(CheckZipArchive(path, options_.archive_limits).status());

  v1::TorchScriptValidationRequest request;
  request.set_archive_path(path);
  for (int64_t d : model->example_input_shape()) {
    request.add_example_input_shape(d);
  }
  request.set_max_example_elements(options_.max_example_elements);
  request.set_max_uncompressed_bytes(
      options_.archive_limits.max_uncompressed_bytes);
  request.set_max_zip_entries(options_.archive_limits.max_entries);
  request.set_intra_op_threads(options_.intra_op_threads);
  request.set_seccomp(options_.seccomp && SeccompFilter::Supported());

  SubprocessOptions sub;
  sub.argv = options_.validator_argv;
  sub.argv.push_back(EncodeValidationRequest(request));
  sub.env.clear();
  sub.stdin_target = StreamTarget::Null();
  sub.stdout_target = StreamTarget::Pipe();
  sub.stderr_target = StreamTarget::Pipe();
  sub.limits.address_space_bytes = options_.address_space_bytes;
  sub.limits.cpu_seconds = options_.cpu_seconds;
  sub.limits.file_size_bytes = 0;
  sub.limits.core_file_bytes = 0;
  sub.new_process_group = true;
  sub.no_new_privs = true;
  if (request.seccomp()) {
    const SeccompFilter* filter = &exec_filter_;
    sub.child_hook = [filter]() -> int {
      const int err = filter->Install(/*all_threads=*/false);
      // No seccomp in this kernel: run without the filter.
      return err == EINVAL || err == ENOSYS ? 0 : err;
    };
  }
  sub.timeout = options_.timeout;
  sub.max_output_bytes = int64_t{1} << 20;

  absl::StatusOr<SubprocessResult> run = Subprocess::Run(std::move(sub));
  if (!run.ok()) {
    return absl::InternalError(absl::StrCat(
        "cannot start the TorchScript validator: ", run.status().ToString()));
  }
  if (!run->Succeeded()) return AbnormalEnd(*run, options_);

  v1::TorchScriptValidationResult result;
  if (run->stdout_truncated || !result.ParseFromString(run->stdout_text)) {
    return absl::InternalError(
        absl::StrCat("TorchScript validator sent an unreadable result: ",
                     LastLine(run->stderr_text)));
  }
  if (result.code() < 0 || result.code() > 16) {
    return absl::InternalError(
        absl::StrCat("TorchScript validator sent status code ", result.code()));
  }
  if (result.code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(result.code()),
                        result.message());
  }
  const v1::ModelVersion& learned = result.model();
  model->set_parameter_count(learned.parameter_count());
  model->set_parameter_bytes(learned.parameter_bytes());
  model->set_forward_input_count(learned.forward_input_count());
  model->mutable_output_shape()->CopyFrom(learned.output_shape());
  model->set_flops(learned.flops());
  return absl::OkStatus();
}

}  // namespace pruneserve
