// Gives the calling thread its LibTorch intra-op thread count.
//
// With LibTorch 1.13's OpenMP backend (Debian's build: libgomp, oneDNN on
// OpenMP, OpenBLAS on its own pthreads) at::set_num_threads(n) sets the
// OpenMP nthreads ICV of the *calling* thread, which sizes the teams of
// every at::parallel_for and oneDNN primitive that thread starts; other
// threads keep theirs. It also stores n process-wide, and a thread's own
// count is initialised lazily, at its first parallel call (or
// get_num_threads()), from that process-wide value. Measured: thread A set
// 1 and ran a region, thread B then set 2, A still ran teams of 1 and a
// fresh thread teams of 2; but when A set 1 and had not yet run anything,
// B's later 3 became A's count at A's first call. So the setter below runs
// the lazy initialisation first. OpenBLAS's pool is process-wide and not
// affected. Each thread that runs LibTorch work sets its budget once when it
// starts: ModelManager does so for serving instance threads, ServerCore for
// job workers, and a CLI for its main thread.
#ifndef PRUNESERVE_CORE_UTIL_INTRA_OP_THREADS_H_
#define PRUNESERVE_CORE_UTIL_INTRA_OP_THREADS_H_

namespace pruneserve {

// Sets the calling thread's LibTorch intra-op threads to `threads`; <= 0
// leaves it unchanged. Thread-safe; affects only the calling thread (and
// the default of threads that never call it).
void SetIntraOpThreadsOfCallingThread(int threads);

// The calling thread's current LibTorch intra-op thread count.
int IntraOpThreadsOfCallingThread();

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_INTRA_OP_THREADS_H_
