#include "server/thread_budget.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"

namespace pruneserve {

ThreadBudget PlanThreadBudget(const ThreadBudgetOptions& options) {
  ThreadBudget budget;
  budget.cores =
      options.cores > 0
          ? options.cores
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int instances = std::max(1, options.serving_instances);
  const int workers = std::max(1, options.job_workers);
  const int job_share = std::max(1, budget.cores / 2);
  const int serving_share = std::max(1, budget.cores - job_share);
  budget.serving_threads = options.serving_threads > 0
                               ? options.serving_threads
                               : std::max(1, serving_share / instances);
  budget.job_threads = options.job_threads > 0
                           ? options.job_threads
                           : std::max(1, job_share / workers);
  budget.oversubscribed =
      instances * budget.serving_threads + workers * budget.job_threads >
      budget.cores;
  return budget;
}

std::string ThreadBudget::Describe(const ThreadBudgetOptions& options) const {
  const int instances = std::max(1, options.serving_instances);
  const int workers = std::max(1, options.job_workers);
  return absl::StrCat("LibTorch intra-op threads: ", serving_threads,
                      " per serving instance (", instances,
                      instances == 1 ? " instance" : " instances", "), ",
                      job_threads, " per job worker (", workers,
                      workers == 1 ? " worker" : " workers", "), ", cores,
                      cores == 1 ? " core" : " cores",
                      oversubscribed ? "; more threads than cores" : "");
}

}  // namespace pruneserve
