#include "core/torchscript/validator_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>

namespace pruneserve {
namespace {

// Flags that make an open write, create or truncate.
constexpr uint32_t kWritingOpenFlags =
    O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;

// System calls that change the file system without opening a file. Some
// exist only on older ABIs (AArch64 has just the *at forms).
void DenyFileSystemChanges(SeccompFilter& f) {
  for (long nr : {
#ifdef SYS_unlink
           static_cast<long>(SYS_unlink),
#endif
#ifdef SYS_rename
           static_cast<long>(SYS_rename),
#endif
#ifdef SYS_mkdir
           static_cast<long>(SYS_mkdir),
#endif
#ifdef SYS_rmdir
           static_cast<long>(SYS_rmdir),
#endif
#ifdef SYS_link
           static_cast<long>(SYS_link),
#endif
#ifdef SYS_symlink
           static_cast<long>(SYS_symlink),
#endif
#ifdef SYS_chmod
           static_cast<long>(SYS_chmod),
#endif
#ifdef SYS_chown
           static_cast<long>(SYS_chown),
#endif
#ifdef SYS_lchown
           static_cast<long>(SYS_lchown),
#endif
#ifdef SYS_mknod
           static_cast<long>(SYS_mknod),
#endif
#ifdef SYS_creat
           static_cast<long>(SYS_creat),
#endif
           static_cast<long>(SYS_unlinkat),  static_cast<long>(SYS_renameat),
#ifdef SYS_renameat2
           static_cast<long>(SYS_renameat2),
#endif
           static_cast<long>(SYS_mkdirat),   static_cast<long>(SYS_linkat),
           static_cast<long>(SYS_symlinkat), static_cast<long>(SYS_fchmodat),
           static_cast<long>(SYS_fchownat),  static_cast<long>(SYS_truncate),
           static_cast<long>(SYS_mknodat)}) {
    f.Deny(nr, EACCES);
  }
}

// The rules both filters share: no file-system changes, no sockets.
void DenyChangesAndSockets(SeccompFilter& f) {
#ifdef SYS_openat2
  // Its flags sit behind a pointer the filter cannot read; glibc's open()
  // does not use it.
  f.Deny(SYS_openat2, ENOSYS);
#endif
  DenyFileSystemChanges(f);
  f.Deny(SYS_socket, EACCES);
}

}  // namespace

SeccompFilter ValidatorExecFilter() {
  SeccompFilter f;
#ifdef SYS_open
  f.DenyIfArgHasBits(SYS_open, 1, kWritingOpenFlags, EACCES);
#endif
  f.DenyIfArgHasBits(SYS_openat, 2, kWritingOpenFlags, EACCES);
  DenyChangesAndSockets(f);
  return f;
}

SeccompFilter ValidatorRuntimeFilter(pid_t self) {
  SeccompFilter f;
#ifdef SYS_open
  f.Deny(SYS_open, EACCES);
#endif
  f.Deny(SYS_openat, EACCES);
  DenyChangesAndSockets(f);
  f.Deny(SYS_execve, EACCES);
  f.Deny(SYS_execveat, EACCES);
  f.Deny(SYS_ptrace, EPERM);
  f.Deny(SYS_process_vm_readv, EPERM);
  f.Deny(SYS_process_vm_writev, EPERM);
  f.Deny(SYS_setsid, EPERM);
  f.Deny(SYS_setpgid, EPERM);
  const uint32_t me = static_cast<uint32_t>(self);
  f.DenyUnlessArgIn(SYS_kill, 0, {me, 0}, EPERM);
  f.DenyUnlessArgIn(SYS_tgkill, 0, {me}, EPERM);
  f.Deny(SYS_tkill, EPERM);
  return f;
}

}  // namespace pruneserve
