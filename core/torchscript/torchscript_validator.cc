#include "core/torchscript/torchscript_validator.h"

#include <ATen/Parallel.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <torch/script.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/torchscript/torchscript_inspector.h"
#include "core/torchscript/validator_seccomp.h"
#include "core/torchscript/zip_archive_check.h"

namespace pruneserve {
namespace {

// Runs what LibTorch initialises lazily (thread pools, CPU feature probing,
// kernel registration, exception backtraces), some of which opens files, so
// none of it first happens after the runtime filter forbids opening files.
void WarmUpTorch(int threads) {
  at::set_num_threads(threads > 0 ? threads : 1);
  torch::NoGradGuard no_grad;
  at::Tensor x = torch::ones({1, 2, 8, 8});
  at::Tensor w = torch::ones({2, 2, 3, 3});
  at::Tensor y = torch::relu(torch::conv2d(x, w, {}, 1, 1));
  y = torch::linear(torch::flatten(torch::adaptive_avg_pool2d(y, {1, 1}), 1),
                    torch::ones({3, 2}));
  (void)y.sum().item<float>();
  try {
    (void)torch::ones({2}).view({3});
  } catch (const std::exception&) {
    // Expected: the first c10::Error loads what backtraces need.
  }
}

// Writes all of `bytes` to `fd`; false on failure.
bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Steps 2-5 of the header: the validation itself.
v1::TorchScriptValidationResult Validate(
    const v1::TorchScriptValidationRequest& request) {
  v1::TorchScriptValidationResult result;
  auto fail = [&result](const absl::Status& s) {
    result.set_code(static_cast<int32_t>(s.code()));
    result.set_message(std::string(s.message()));
    return result;
  };
  WarmUpTorch(request.intra_op_threads());

  TorchScriptInspectorOptions options;
  options.max_example_elements = request.max_example_elements();
  options.archive_limits.max_uncompressed_bytes =
      request.max_uncompressed_bytes();
  options.archive_limits.max_entries = request.max_zip_entries();
  absl::StatusOr<ZipArchiveSummary> zip =
      CheckZipArchive(request.archive_path(), options.archive_limits);
  if (!zip.ok()) return fail(zip.status());
  std::ifstream archive(request.archive_path(), std::ios::binary);
  if (!archive) {
    return fail(absl::InternalError(
        absl::StrCat("validator cannot open ", request.archive_path())));
  }

  if (request.seccomp()) {
    const int err = ValidatorRuntimeFilter(::getpid())
                        .Install(
                            /*all_threads=*/true);
    // EINVAL / ENOSYS: this kernel has no seccomp filters; the rlimits, the
    // process boundary and the op deny-list still apply.
    if (err != 0 && err != EINVAL && err != ENOSYS) {
      return fail(absl::InternalError(absl::StrCat(
          "validator cannot install its seccomp filter: errno ", err)));
    }
  }
  result.set_seccomp_active(::prctl(PR_GET_SECCOMP) == 2);

  TorchScriptInspector inspector(options);
  v1::ModelVersion model;
  for (int64_t d : request.example_input_shape()) {
    model.add_example_input_shape(d);
  }
  const absl::Status status = inspector.InspectStream(archive, &model);
  if (!status.ok()) return fail(status);
  model.clear_example_input_shape();
  *result.mutable_model() = std::move(model);
  return result;
}

}  // namespace

std::string EncodeValidationRequest(
    const v1::TorchScriptValidationRequest& request) {
  return absl::WebSafeBase64Escape(request.SerializeAsString());
}

bool DecodeValidationRequest(absl::string_view text,
                             v1::TorchScriptValidationRequest* request) {
  std::string bytes;
  return absl::WebSafeBase64Unescape(text, &bytes) &&
         request->ParseFromString(bytes);
}

int RunTorchScriptValidator(absl::string_view encoded_request) {
  // Step 1: the result goes to the original stdout pipe only.
  std::fflush(stdout);
  const int result_fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (result_fd < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    std::fprintf(stderr, "torchscript validator: cannot set up stdout\n");
    return 3;
  }
  v1::TorchScriptValidationRequest request;
  if (!DecodeValidationRequest(encoded_request, &request)) {
    std::fprintf(stderr, "torchscript validator: malformed request\n");
    return 2;
  }
  const v1::TorchScriptValidationResult result = Validate(request);
  std::fflush(stdout);
  std::fflush(stderr);
  if (!WriteAll(result_fd, result.SerializeAsString())) return 3;
  ::close(result_fd);
  return 0;
}

}  // namespace pruneserve
