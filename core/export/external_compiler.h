// The external compile step: runs the Vitis AI toolchain (quantizer and
// vai_c_xir, normally through deploy/vitis/compile_xmodel.sh inside the
// Vitis AI docker image) on an export directory (vitis_export.h) and
// returns the one .xmodel it produced.
//
// Each compile runs in a fresh directory under `work_root`:
//   <work_root>/<name>-XXXXXX/        the command's working directory
//       out/                          {output_dir}; must end up holding
//                                     exactly one *.xmodel
//       tmp/                          $TMPDIR of the command
//       compile.log                   the command line, then its stdout and
//                                     stderr, cut at max_log_bytes
// The command gets /dev/null as stdin, only the allow-listed environment
// variables, and its own process group, which is killed with SIGKILL on
// timeout or cancellation (and after it exits, so no helper outlives it).
//
// The command template is split on whitespace into argv and run without a
// shell, so a placeholder value containing spaces stays one argument.
#ifndef PRUNESERVE_CORE_EXPORT_EXTERNAL_COMPILER_H_
#define PRUNESERVE_CORE_EXPORT_EXTERNAL_COMPILER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pruneserve::vitis {

struct ExternalCompilerOptions {
  // argv template. Placeholders, replaced inside every word: {export_dir},
  // {output_dir}, {work_dir}, {name}, {arch}. An unknown placeholder is
  // INVALID_ARGUMENT at Create().
  std::string command_template =
      "compile_xmodel.sh --export-dir {export_dir} --output-dir {output_dir} "
      "--name {name} --arch {arch}";
  // Flag through which operators set command_template; quoted in the
  // FAILED_PRECONDITION message when the toolchain is missing.
  std::string command_flag = "--vitis_compile_command";
  // DPU architecture description passed as {arch}.
  std::string arch = "/opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json";
  // Directory under which each compile gets its own working directory.
  // Created when missing.
  std::string work_root = "./var/pruneserve/compile";
  // Wall-clock limit of one compile; the process group is killed after it.
  absl::Duration timeout = absl::Hours(2);
  // Environment variables copied from the server's environment; every other
  // variable is dropped. TMPDIR is always set to the work directory's tmp/.
  std::vector<std::string> env_allowlist = {"PATH",
                                            "HOME",
                                            "LANG",
                                            "LC_ALL",
                                            "LD_LIBRARY_PATH",
                                            "PYTHONPATH",
                                            "CONDA_PREFIX",
                                            "CONDA_DEFAULT_ENV",
                                            "XILINX_XRT",
                                            "XLNX_VART_FIRMWARE"};
  // compile.log stops growing at this size (output beyond it is read and
  // dropped, so the command never blocks on a full pipe).
  int64_t max_log_bytes = int64_t{8} << 20;
  // How much of the end of the output error messages quote.
  int64_t error_tail_bytes = 2048;
  // How often a running compile checks its cancellation callback.
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Keep the working directory of a failed compile for inspection (its path
  // is in the error message); otherwise it is removed.
  bool keep_failed_work_dirs = true;
};

struct CompileRequest {
  // Export directory written by ExportForVitis. Must exist.
  std::string export_dir;
  // Model name ({name}); same alphabet as repository model names.
  std::string name;
};

struct CompileResult {
  // The one *.xmodel found directly in out/.
  std::string xmodel_path;
  // The compile's working directory. The caller owns it and removes it once
  // it has stored the xmodel.
  std::string work_dir;
  std::string log_path;
  absl::Duration elapsed;
};

// Thread-safe: concurrent Compile() calls use separate working directories.
// Holds no threads or processes between calls.
class ExternalCompiler {
 public:
  // INVALID_ARGUMENT for an empty template, an unknown placeholder or
  // non-positive limits; an errno-derived status when work_root cannot be
  // created.
  static absl::StatusOr<std::unique_ptr<ExternalCompiler>> Create(
      ExternalCompilerOptions options);

  // Runs the command for `request` and blocks until it ends. `cancelled`
  // (may be empty) is polled every poll_interval; when it returns true the
  // process group is killed. Returns
  //   FAILED_PRECONDITION  the command is not on PATH or exits with 127
  //                        (a tool it calls is missing); says what to install
  //                        and which flag sets the command;
  //   DEADLINE_EXCEEDED    timeout;
  //   CANCELLED            cancelled;
  //   INTERNAL             non-zero exit or death by signal (with the log's
  //                        tail), or not exactly one *.xmodel in out/ (naming
  //                        the directory);
  //   INVALID_ARGUMENT / NOT_FOUND for a bad name or a missing export_dir.
  absl::StatusOr<CompileResult> Compile(
      const CompileRequest& request,
      const std::function<bool()>& cancelled = {}) const;

  const ExternalCompilerOptions& options() const { return options_; }

 private:
  explicit ExternalCompiler(ExternalCompilerOptions options);

  const ExternalCompilerOptions options_;
  // command_template split on whitespace.
  const std::vector<std::string> words_;
};

}  // namespace pruneserve::vitis

#endif  // PRUNESERVE_CORE_EXPORT_EXTERNAL_COMPILER_H_
