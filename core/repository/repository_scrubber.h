// Background scrub of the model repository: every `interval` it re-hashes
// every stored blob through ModelRepository::VerifyModels, the same check
// as `prunectl model verify`, so bit rot is found (and the versions marked
// corrupt) before a load or download trips over it.
#ifndef PRUNESERVE_CORE_REPOSITORY_REPOSITORY_SCRUBBER_H_
#define PRUNESERVE_CORE_REPOSITORY_REPOSITORY_SCRUBBER_H_

#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/metrics/repository_metrics.h"
#include "core/repository/model_repository.h"

namespace pruneserve {

struct RepositoryScrubberOptions {
  // Time between two scrubs; the first runs one interval after Start().
  // <= 0: no thread, scrubs run only through ScrubNow() (tests, tools).
  absl::Duration interval = absl::Hours(24);
};

// Counts of one scrub.
struct ScrubSummary {
  int versions = 0;
  int ok = 0;
  int corrupt = 0;
  int missing = 0;
};

// Owns its thread, started by Create() when the interval is positive and
// joined by Stop() or the destructor. Borrows the repository and metrics
// (may be null), which must outlive it. Thread-safe.
class RepositoryScrubber {
 public:
  static absl::StatusOr<std::unique_ptr<RepositoryScrubber>> Create(
      RepositoryScrubberOptions options, const ModelRepository* repository,
      RepositoryMetrics* metrics);
  ~RepositoryScrubber();

  // Verifies every stored version now, model by model, on the calling
  // thread; returns the counts, VerifyModels' error, or CANCELLED after
  // Stop(). Blocks reading every blob.
  absl::StatusOr<ScrubSummary> ScrubNow();

  // Wakes the thread and joins it; a scrub in progress stops after the
  // model it is verifying. Idempotent.
  void Stop();

 private:
  RepositoryScrubber(RepositoryScrubberOptions options,
                     const ModelRepository* repository,
                     RepositoryMetrics* metrics);
  void Loop();

  const RepositoryScrubberOptions options_;
  const ModelRepository* const repository_;
  RepositoryMetrics* const metrics_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_REPOSITORY_REPOSITORY_SCRUBBER_H_
