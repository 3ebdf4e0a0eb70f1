#include "core/util/intra_op_threads.h"

#include <ATen/Parallel.h>

namespace pruneserve {

void SetIntraOpThreadsOfCallingThread(int threads) {
  if (threads <= 0) return;
  // LibTorch initialises a thread's count lazily, on the thread's first
  // parallel call, from the value any thread set last; that first call would
  // overwrite what is set here if it came later. get_num_threads() runs the
  // initialisation now.
  (void)at::get_num_threads();
  at::set_num_threads(threads);
}

int IntraOpThreadsOfCallingThread() { return at::get_num_threads(); }

}  // namespace pruneserve
