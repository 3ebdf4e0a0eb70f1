// The op deny-list for uploaded TorchScript. TorchScript is a programming
// language, and LibTorch 1.13 registers ops that reach outside the tensor
// world: aten::from_file maps any file the server can read into a tensor
// (which forward() can then return to the caller), aten::save writes files,
// the prim::rpc_* and c10d:: ops talk to the network, prim::fork starts work
// that outlives the call that started it. A model needs none of them to
// classify an image, so an archive whose code uses one is refused with
// INVALID_ARGUMENT naming the op and the function it appears in.
//
// The check covers every function of the archive's compilation unit (every
// method of every module and class, __setstate__ included), each inlined, so
// a forbidden op cannot hide behind a helper method. After inlining, a
// prim::CallFunction can only call something the archive does not define,
// and is refused too.
//
// Loading is what turns an archive into graphs, and LibTorch runs
// __setstate__ while it loads, so the check runs inside the validator
// process (core/torchscript/torchscript_validator.h), never on an archive
// the server process has loaded unchecked.
#ifndef PRUNESERVE_CORE_TORCHSCRIPT_FORBIDDEN_OPS_H_
#define PRUNESERVE_CORE_TORCHSCRIPT_FORBIDDEN_OPS_H_

#include <torch/script.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace pruneserve {

// One denied op and why, for the error message.
struct ForbiddenOp {
  // Qualified op name as in the graph, e.g. "aten::from_file".
  std::string name;
  // Short reason shown to the uploader, e.g. "reads a file on the server".
  std::string reason;
};

struct ForbiddenOpsOptions {
  // Ops refused by exact name. The default is the file, process and network
  // ops LibTorch 1.13 registers, plus prim::CallFunction (after inlining,
  // only calls of functions the archive does not define remain).
  std::vector<ForbiddenOp> ops = DefaultForbiddenOps();
  // Op namespaces refused whole (distributed and RPC runtimes), e.g. "c10d".
  std::vector<std::string> namespaces = {"c10d", "dist_c10d", "dist_autograd",
                                         "dist_rpc", "rpc"};

  static std::vector<ForbiddenOp> DefaultForbiddenOps();
};

// Checks every function of `module`'s compilation unit, inlined, against
// `options`. INVALID_ARGUMENT "model uses forbidden op <op> in <function>:
// <reason>" for the first hit; OK otherwise. Does not run the module.
// Thread-compatible: the module must not be changed meanwhile.
absl::Status CheckForbiddenOps(const torch::jit::Module& module,
                               const ForbiddenOpsOptions& options = {});

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_TORCHSCRIPT_FORBIDDEN_OPS_H_
