// A small builder for seccomp-BPF system call filters, for processes that run
// untrusted input (the TorchScript validator). No libseccomp: the program is
// a few dozen classic-BPF instructions, built here from rules like "openat
// fails with EACCES when its flags ask for writing".
//
// The program first checks the architecture the filter was built for (a
// system call made through another ABI, e.g. i386 or x32 on x86-64, kills
// the process, since its numbers would mean other calls), then tests each
// rule in order; a call no rule matches is allowed. Only x86-64 and AArch64
// are supported; elsewhere Supported() is false and Install() reports
// ENOSYS.
//
// Build the filter in the parent, before fork(); Install() only calls the
// seccomp system call, so it is async-signal-safe and may run in a
// Subprocess child_hook. Filters stack: a process can install a stricter one
// later, and no filter can be removed. Installing needs no_new_privs (or
// CAP_SYS_ADMIN).
//
// Example:
//   SeccompFilter filter;
//   filter.DenyIfArgHasBits(SYS_openat, 2, O_WRONLY | O_RDWR | O_CREAT,
//                           EACCES)
//         .Deny(SYS_socket, EACCES);
//   int err = filter.Install(/*all_threads=*/false);  // 0 on success
#ifndef PRUNESERVE_CORE_UTIL_SECCOMP_FILTER_H_
#define PRUNESERVE_CORE_UTIL_SECCOMP_FILTER_H_

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace pruneserve {

// Not thread-safe while rules are added; Install() may be called from any
// thread (and from a forked child) once building is done. Rules for a system
// call number the kernel does not have are harmless.
class SeccompFilter {
 public:
  SeccompFilter() = default;

  // True when this build knows the running architecture's seccomp id.
  static bool Supported();

  // `syscall_nr` always fails with `error`.
  SeccompFilter& Deny(long syscall_nr, int error);

  // `syscall_nr` fails with `error` when argument `arg` (0-5, its low 32
  // bits) has any bit of `mask` set; e.g. open flags asking for writing.
  SeccompFilter& DenyIfArgHasBits(long syscall_nr, int arg, uint32_t mask,
                                  int error);

  // `syscall_nr` fails with `error` unless argument `arg` (its low 32 bits)
  // equals one of `allowed`; e.g. kill() only of the process itself.
  SeccompFilter& DenyUnlessArgIn(long syscall_nr, int arg,
                                 std::vector<uint32_t> allowed, int error);

  // Installs the filter on the calling thread, or with `all_threads` on
  // every thread of the process (SECCOMP_FILTER_FLAG_TSYNC). Returns 0 or
  // the errno of the failure: ENOSYS when unsupported, EINVAL when the
  // kernel has no seccomp filters, EACCES without no_new_privs.
  // Async-signal-safe (no allocation).
  int Install(bool all_threads) const;

  // The finished program (rebuilt by every rule call). For tests.
  const std::vector<sock_filter>& program() const { return program_; }

 private:
  struct Rule {
    enum class Kind { kDeny, kArgHasBits, kArgNotIn };
    Kind kind;
    long nr;
    int arg;
    uint32_t mask;
    std::vector<uint32_t> allowed;
    int error;
  };
  SeccompFilter& Add(Rule rule);
  void Rebuild();

  std::vector<Rule> rules_;
  std::vector<sock_filter> program_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_SECCOMP_FILTER_H_
