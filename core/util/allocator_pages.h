// Keeps large freed buffers in the process heap instead of handing them back
// to the kernel. LibTorch work that frees and re-allocates multi-megabyte
// tensors in a loop (a training step's activations, the pruning engine's
// copies and slices of every weight) otherwise pays page faults and page
// zeroing for each allocation: with glibc's defaults blocks above the mmap
// threshold are mapped and unmapped every time, and the top of the heap is
// trimmed. Serving blocks up to 64 MiB from the heap and trimming only above
// 256 MiB of free top-of-heap keeps them. Process-wide and idempotent; it
// retains at most the trim threshold beyond the peak working set. Thread-
// safe (mallopt takes the allocator's lock).
//
// Allocator tuning belongs to the program, not to a library: call it once
// from main() (the server, prunectl and the benchmarks that train or prune
// do), never from core code that other programs link.
#ifndef PRUNESERVE_CORE_UTIL_ALLOCATOR_PAGES_H_
#define PRUNESERVE_CORE_UTIL_ALLOCATOR_PAGES_H_

namespace pruneserve {

void KeepAllocatorPages();

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_ALLOCATOR_PAGES_H_
