// Validates uploaded TorchScript archives by loading them with LibTorch and
// records what a client would want to know before using the model:
// parameter count and bytes, forward()'s input count and, for an example
// input shape, the output shape and the multiply-accumulate count.
//
// Before loading, the zip structure is checked against size and entry caps
// (zip_archive_check.h); after loading and before running anything, the code
// is checked against the op deny-list (forbidden_ops.h). This class loads in
// the calling process: the server runs it inside the validator process
// (torchscript_validator.h), where a crash, a hang or a hostile op cannot
// reach the server. Tools and tests may run it directly.
#ifndef PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_INSPECTOR_H_
#define PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_INSPECTOR_H_

#include <cstdint>
#include <istream>
#include <string>
#include <utility>

#include "core/repository/model_inspector.h"
#include "core/torchscript/forbidden_ops.h"
#include "core/torchscript/zip_archive_check.h"

namespace pruneserve {

struct TorchScriptInspectorOptions {
  // Largest example input (elements) the inspector will run a forward pass
  // on; a bigger example shape is INVALID_ARGUMENT rather than an OOM.
  int64_t max_example_elements = int64_t{1} << 26;
  // Caps on the archive's entries and uncompressed size, checked before
  // LibTorch sees the file.
  ZipArchiveLimits archive_limits;
  // Ops the archive's code may not use.
  ForbiddenOpsOptions forbidden_ops;
};

// Thread-safe: each Inspect() loads its own module copy.
class TorchScriptInspector : public ModelInspector {
 public:
  explicit TorchScriptInspector(TorchScriptInspectorOptions options = {})
      : options_(std::move(options)) {}

  // CheckZipArchive() on `path`, then InspectLoaded() on the opened file.
  // Errors as those two return. Blocks (loads and runs the model).
  absl::Status Inspect(const std::string& path,
                       v1::ModelVersion* model) const override;

  // Loads the archive from `archive` (already checked by CheckZipArchive),
  // refuses forbidden ops, and fills `model` as Inspect() describes;
  // INVALID_ARGUMENT naming the problem. Opens no file itself, so it runs
  // under a sandbox that forbids opening files. Blocks.
  absl::Status InspectStream(std::istream& archive,
                             v1::ModelVersion* model) const;

  const TorchScriptInspectorOptions& options() const { return options_; }

 private:
  TorchScriptInspectorOptions options_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_INSPECTOR_H_
