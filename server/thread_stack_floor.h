// Keeps thread stacks from being too small for the process's static TLS.
//
// civetweb (under prometheus-cpp's exposer) creates its threads with a small
// fixed stack size. LibTorch and OpenBLAS add a large static TLS block, and
// glibc rejects pthread_create with EINVAL when the requested stack cannot
// hold it, so the exposer fails to start in any process that links LibTorch.
// server/thread_stack_floor.cc interposes pthread_attr_setstacksize and raises
// every request to at least kMinThreadStackBytes. The executable exports the
// symbol (see server/CMakeLists.txt) so shared libraries bind to it.
#ifndef PRUNESERVE_SERVER_THREAD_STACK_FLOOR_H_
#define PRUNESERVE_SERVER_THREAD_STACK_FLOOR_H_

#include <cstddef>

namespace pruneserve {

inline constexpr std::size_t kMinThreadStackBytes = std::size_t{2} << 20;

// Referenced by Server so the interposer is linked into every binary that
// starts one. Returns kMinThreadStackBytes.
std::size_t ThreadStackFloor();

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_THREAD_STACK_FLOOR_H_
