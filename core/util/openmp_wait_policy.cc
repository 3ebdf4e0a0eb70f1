#include "core/util/openmp_wait_policy.h"

#include <unistd.h>

#include <cstdlib>

namespace pruneserve {

void DefaultOpenMpWaitPolicyToPassive(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Still here: the variable is set but this libgomp already read the
  // environment; carry on with its default.
}

}  // namespace pruneserve
