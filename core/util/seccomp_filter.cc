#include "core/util/seccomp_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <utility>

namespace pruneserve {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kArch = 0;
#endif

// x32 system calls share AUDIT_ARCH_X86_64 but set this bit in the number.
constexpr uint32_t kX32SyscallBit = 0x40000000;

constexpr uint32_t kNrOffset = offsetof(struct seccomp_data, nr);
constexpr uint32_t kArchOffset = offsetof(struct seccomp_data, arch);

uint32_t ArgOffset(int arg) {
  // The low 32 bits of a little-endian 64-bit argument.
  return static_cast<uint32_t>(offsetof(struct seccomp_data, args) +
                               8 * static_cast<size_t>(arg));
}

sock_filter Stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}
sock_filter Fail(int error) {
  return Stmt(
      BPF_RET | BPF_K,
      SECCOMP_RET_ERRNO | (static_cast<uint32_t>(error) & SECCOMP_RET_DATA));
}
sock_filter Allow() { return Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW); }
sock_filter KillProcess() {
  return Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
}

}  // namespace

bool SeccompFilter::Supported() { return kArch != 0; }

SeccompFilter& SeccompFilter::Deny(long syscall_nr, int error) {
  return Add({Rule::Kind::kDeny, syscall_nr, 0, 0, {}, error});
}

SeccompFilter& SeccompFilter::DenyIfArgHasBits(long syscall_nr, int arg,
                                               uint32_t mask, int error) {
  return Add({Rule::Kind::kArgHasBits, syscall_nr, arg, mask, {}, error});
}

SeccompFilter& SeccompFilter::DenyUnlessArgIn(long syscall_nr, int arg,
                                              std::vector<uint32_t> allowed,
                                              int error) {
  return Add(
      {Rule::Kind::kArgNotIn, syscall_nr, arg, 0, std::move(allowed), error});
}

SeccompFilter& SeccompFilter::Add(Rule rule) {
  rules_.push_back(std::move(rule));
  Rebuild();
  return *this;
}

void SeccompFilter::Rebuild() {
  std::vector<sock_filter>& p = program_;
  p.clear();
  if (!Supported()) return;
  p.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, kArchOffset));
  p.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
  p.push_back(KillProcess());
  p.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, kNrOffset));
#if defined(__x86_64__)
  p.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, kX32SyscallBit, 0, 1));
  p.push_back(KillProcess());
#endif
  // Each rule: "nr == rule.nr ? body : skip body". A body always returns,
  // so the accumulator still holds nr when the next rule is tested.
  for (const Rule& rule : rules_) {
    std::vector<sock_filter> body;
    switch (rule.kind) {
      case Rule::Kind::kDeny:
        body.push_back(Fail(rule.error));
        break;
      case Rule::Kind::kArgHasBits:
        body.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, ArgOffset(rule.arg)));
        body.push_back(Jump(BPF_JMP | BPF_JSET | BPF_K, rule.mask, 0, 1));
        body.push_back(Fail(rule.error));
        body.push_back(Allow());
        break;
      case Rule::Kind::kArgNotIn: {
        body.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, ArgOffset(rule.arg)));
        const size_t n = rule.allowed.size();
        for (size_t j = 0; j < n; ++j) {
          // Jump over the remaining tests and the failure to Allow().
          body.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, rule.allowed[j],
                              static_cast<uint8_t>(n - j), 0));
        }
        body.push_back(Fail(rule.error));
        body.push_back(Allow());
        break;
      }
    }
    p.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(rule.nr),
                     0, static_cast<uint8_t>(body.size())));
    p.insert(p.end(), body.begin(), body.end());
  }
  p.push_back(Allow());
}

int SeccompFilter::Install(bool all_threads) const {
  if (program_.empty()) return ENOSYS;
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(program_.size());
  prog.filter = const_cast<sock_filter*>(program_.data());
  const unsigned long flags = all_threads ? SECCOMP_FILTER_FLAG_TSYNC : 0;
  // With TSYNC a positive return value names a thread that could not be
  // synchronised.
  const long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc == 0) return 0;
  return rc > 0 ? ESRCH : errno;
}

}  // namespace pruneserve
