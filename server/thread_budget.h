// Splits the host's cores between serving and pruning jobs, so that the two
// never ask LibTorch for the same cores.
//
// Serving instance threads and job worker threads each get a fixed number
// of LibTorch intra-op threads, set once on the thread when it starts (see
// core/util/intra_op_threads.h: the setting is per thread). Without an
// explicit count, jobs get half the cores (at least one) and serving the
// rest (at least one), each share divided among its threads:
//   2 cores, 1 instance, 1 job worker  -> serving 1, jobs 1
//   8 cores, 2 instances, 1 job worker -> serving 2 per instance, jobs 4
// An explicit --intra_op_threads / --job_threads is used as given.
#ifndef PRUNESERVE_SERVER_THREAD_BUDGET_H_
#define PRUNESERVE_SERVER_THREAD_BUDGET_H_

#include <string>

namespace pruneserve {

struct ThreadBudgetOptions {
  // Cores to share; <= 0 means std::thread::hardware_concurrency().
  int cores = 0;
  // Instance threads of a model loaded without overrides (--instances).
  int serving_instances = 1;
  // Job worker threads (--job_workers).
  int job_workers = 1;
  // Intra-op threads of each serving instance thread (--intra_op_threads);
  // <= 0 means from the serving share.
  int serving_threads = 0;
  // Intra-op threads of each job worker thread (--job_threads); <= 0 means
  // from the jobs share.
  int job_threads = 0;
};

// The resolved budget; every field >= 1.
struct ThreadBudget {
  int cores = 1;
  // Intra-op threads of each serving instance thread.
  int serving_threads = 1;
  // Intra-op threads of each job worker thread.
  int job_threads = 1;
  // True when instances x serving_threads + workers x job_threads exceeds
  // the cores (possible only with explicit counts or more threads than
  // cores).
  bool oversubscribed = false;

  // One line for the start-up log, e.g. "LibTorch intra-op threads: 1 per
  // serving instance (1 instance), 1 per job worker (1 worker), 2 cores".
  std::string Describe(const ThreadBudgetOptions& options) const;
};

// Resolves `options`. Never fails: counts below 1 become 1.
ThreadBudget PlanThreadBudget(const ThreadBudgetOptions& options);

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_THREAD_BUDGET_H_
