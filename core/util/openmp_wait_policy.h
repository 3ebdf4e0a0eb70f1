// Makes OpenMP workers sleep at barriers unless the user chose otherwise.
//
// libgomp spins a worker that waits at a barrier before it sleeps. On a
// small host that spinning worker takes the core the request or job thread
// needs next. libgomp reads OMP_WAIT_POLICY once, when the library is
// loaded (before main() runs), so setting the variable in main() has no
// effect: measured with a 2-thread region alternating with 2 ms of serial
// work, the idle worker used 1.46 s of CPU over 4.4 s when main() called
// setenv, the same as with the variable unset (1.62 s) or ACTIVE, and
// 0.03 s over 1.4 s when PASSIVE was in the environment at exec. The
// default therefore takes effect by executing the same binary again with
// OMP_WAIT_POLICY=PASSIVE added; its pid, arguments and descriptors stay.
#ifndef PRUNESERVE_CORE_UTIL_OPENMP_WAIT_POLICY_H_
#define PRUNESERVE_CORE_UTIL_OPENMP_WAIT_POLICY_H_

namespace pruneserve {

// When OMP_WAIT_POLICY is unset: sets it to PASSIVE and re-executes
// /proc/self/exe with `argv` (does not return on success). Returns when the
// variable was already set (the user's choice stands) or the re-exec failed
// (the process then keeps libgomp's default). Call first thing in main(),
// before any thread exists.
void DefaultOpenMpWaitPolicyToPassive(char** argv);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_OPENMP_WAIT_POLICY_H_
