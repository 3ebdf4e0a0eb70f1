// The two seccomp filters of the TorchScript validator process.
//
// The exec filter is installed by the server in the forked child just before
// it execs the validator: from then on the process cannot open a file for
// writing, create, rename, delete or re-permission files, or create a
// socket. The runtime filter is added by the validator itself once LibTorch
// is initialised and the archive is open, right before the archive is
// loaded: it forbids opening any file at all (so aten::from_file and
// anything like it fails even if it slipped past the op deny-list), exec,
// ptrace, leaving the process group, and signals to any process but itself.
#ifndef PRUNESERVE_CORE_TORCHSCRIPT_VALIDATOR_SECCOMP_H_
#define PRUNESERVE_CORE_TORCHSCRIPT_VALIDATOR_SECCOMP_H_

#include <sys/types.h>

#include "core/util/seccomp_filter.h"

namespace pruneserve {

// Denies writing opens, file-system changes and sockets (EACCES).
SeccompFilter ValidatorExecFilter();

// ValidatorExecFilter() plus: every open (EACCES), execve/execveat,
// ptrace/process_vm_*, setsid/setpgid (EPERM), and kill/tgkill aimed at any
// process but `self` (EPERM).
SeccompFilter ValidatorRuntimeFilter(pid_t self);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_TORCHSCRIPT_VALIDATOR_SECCOMP_H_
