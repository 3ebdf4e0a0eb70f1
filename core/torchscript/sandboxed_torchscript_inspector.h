// The server's TorchScript inspector: validates an uploaded archive without
// ever loading it into the server process.
//
// LibTorch 1.13 will run whatever an archive says: its code can read server
// files (aten::from_file), loop forever, or allocate without bound, and
// torch::jit::load itself has crashes found by fuzzing. So Inspect():
//   1. checks the zip structure in-process, without LibTorch: entry count
//      and total uncompressed size capped (zip_archive_check.h);
//   2. starts a short-lived validator process (torchscript_validator.h) that
//      loads the archive, refuses forbidden ops (forbidden_ops.h), runs the
//      validation forward on the example shape and reports the metadata
//      back on its stdout pipe as a serialized proto.
// The validator runs with an empty environment, in a process group of its
// own, with no_new_privs, with rlimits on address space, CPU seconds, file
// size (0) and core size (0), under seccomp filters (validator_seccomp.h;
// where the kernel has seccomp) and a wall-clock timeout that kills its
// group. Only archives that pass both steps are stored, so everything the
// server later loads for inference or a job has passed them.
//
// A validator that is killed by the timeout or the CPU limit, or that dies
// of a signal (a crash in jit::load), makes the upload INVALID_ARGUMENT with
// a message saying which; the server itself is not affected.
#ifndef PRUNESERVE_CORE_TORCHSCRIPT_SANDBOXED_TORCHSCRIPT_INSPECTOR_H_
#define PRUNESERVE_CORE_TORCHSCRIPT_SANDBOXED_TORCHSCRIPT_INSPECTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/repository/model_inspector.h"
#include "core/torchscript/zip_archive_check.h"
#include "core/util/seccomp_filter.h"

namespace pruneserve {

struct SandboxedTorchScriptInspectorOptions {
  // The command that starts a validator; the encoded request is appended as
  // the last argument. The server uses {"/proc/self/exe",
  // kTorchScriptValidatorFlag}: its own binary, even if the file on disk
  // was replaced since it started. Required.
  std::vector<std::string> validator_argv;
  // Caps on the archive's entries and uncompressed size (step 1, and again
  // in the validator).
  ZipArchiveLimits archive_limits;
  // Largest example input (elements) the validation forward runs on.
  int64_t max_example_elements = int64_t{1} << 26;
  // Wall-clock limit of one validation; the validator's process group is
  // killed when it passes.
  absl::Duration timeout = absl::Seconds(60);
  // RLIMIT_CPU of the validator, in seconds.
  int64_t cpu_seconds = 60;
  // RLIMIT_AS of the validator, in bytes: LibTorch's own mappings take
  // about 1 GiB of address space before the model is loaded.
  int64_t address_space_bytes = int64_t{8} << 30;
  // LibTorch intra-op threads of the validator (so CPU seconds track wall
  // time and concurrent uploads do not oversubscribe the cores).
  int intra_op_threads = 1;
  // Install the seccomp filters where the kernel supports them.
  bool seccomp = true;
};

// Thread-safe: each Inspect() starts its own validator process; concurrent
// uploads run concurrent validators.
class SandboxedTorchScriptInspector : public ModelInspector {
 public:
  // INVALID_ARGUMENT when validator_argv is empty or a limit is not
  // positive.
  static absl::StatusOr<std::unique_ptr<SandboxedTorchScriptInspector>> Create(
      SandboxedTorchScriptInspectorOptions options);

  // Runs steps 1 and 2 of the file comment and fills `model` like
  // TorchScriptInspector. Returns what the zip check or the validator
  // returned (INVALID_ARGUMENT naming a forbidden op, a bad example shape,
  // a timeout, the CPU limit or the validator's crash signal;
  // RESOURCE_EXHAUSTED for the caps), or INTERNAL when the validator could
  // not be started or broke the protocol. Blocks until the validator ends
  // (at most `timeout`).
  absl::Status Inspect(const std::string& path,
                       v1::ModelVersion* model) const override;

 private:
  explicit SandboxedTorchScriptInspector(
      SandboxedTorchScriptInspectorOptions options);

  const SandboxedTorchScriptInspectorOptions options_;
  // Built once; installed in each forked child before it execs.
  const SeccompFilter exec_filter_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_TORCHSCRIPT_SANDBOXED_TORCHSCRIPT_INSPECTOR_H_
