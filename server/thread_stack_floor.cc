#include "server/thread_stack_floor.h"

#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>

namespace pruneserve {

std::size_t ThreadStackFloor() { return kMinThreadStackBytes; }

}  // namespace pruneserve

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr,
                                         size_t stacksize) {
  using Fn = int (*)(pthread_attr_t*, size_t);
  static Fn real = [] {
    void* sym = dlvsym(RTLD_NEXT, "pthread_attr_setstacksize", "GLIBC_2.34");
    if (sym == nullptr) {
      sym = dlsym(RTLD_NEXT, "pthread_attr_setstacksize");
    }
    return reinterpret_cast<Fn>(sym);
  }();
  return real(attr, std::max(stacksize, pruneserve::kMinThreadStackBytes));
}
