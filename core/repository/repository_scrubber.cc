#include "core/repository/repository_scrubber.h"

#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace pruneserve {

RepositoryScrubber::RepositoryScrubber(RepositoryScrubberOptions options,
                                       const ModelRepository* repository,
                                       RepositoryMetrics* metrics)
    : options_(options), repository_(repository), metrics_(metrics) {}

absl::StatusOr<std::unique_ptr<RepositoryScrubber>> RepositoryScrubber::Create(
    RepositoryScrubberOptions options, const ModelRepository* repository,
    RepositoryMetrics* metrics) {
  if (repository == nullptr) {
    return absl::InvalidArgumentError("scrubber needs a repository");
  }
  auto scrubber = std::unique_ptr<RepositoryScrubber>(
      new RepositoryScrubber(options, repository, metrics));
  if (options.interval > absl::ZeroDuration()) {
    scrubber->thread_ = std::thread([s = scrubber.get()] { s->Loop(); });
  }
  return scrubber;
}

RepositoryScrubber::~RepositoryScrubber() { Stop(); }

void RepositoryScrubber::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<ScrubSummary> RepositoryScrubber::ScrubNow() {
  absl::StatusOr<std::vector<v1::ModelVersion>> listed =
      repository_->ListModels("");
  if (!listed.ok()) return listed.status();
  std::set<std::string> names;
  for (const v1::ModelVersion& m : *listed) names.insert(m.name());
  std::vector<v1::VersionIntegrity> checked;
  // One model at a time, so Stop() waits for one model's blobs at most.
  for (const std::string& name : names) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::CancelledError("scrub stopped");
    }
    absl::StatusOr<std::vector<v1::VersionIntegrity>> one =
        repository_->VerifyModels(name, 0);
    // Deleted since the listing.
    if (absl::IsNotFound(one.status())) continue;
    if (!one.ok()) return one.status();
    for (v1::VersionIntegrity& v : *one) checked.push_back(std::move(v));
  }
  ScrubSummary summary;
  for (const v1::VersionIntegrity& v : checked) {
    ++summary.versions;
    switch (v.integrity()) {
      case v1::BLOB_INTEGRITY_OK:
        ++summary.ok;
        break;
      case v1::BLOB_INTEGRITY_MISSING:
        ++summary.missing;
        break;
      default:
        ++summary.corrupt;
        break;
    }
  }
  if (metrics_) metrics_->RecordScrub();
  return summary;
}

void RepositoryScrubber::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.interval);
      if (stopping_) return;
    }
    absl::StatusOr<ScrubSummary> summary = ScrubNow();
    if (!summary.ok()) {
      fprintf(stderr, "pruneserve: scrub failed: %s\n",
              summary.status().ToString().c_str());
    } else if (summary->corrupt + summary->missing > 0) {
      fprintf(stderr,
              "pruneserve: scrub of %d version(s): %d corrupt, %d missing "
              "(marked; see prunectl model verify)\n",
              summary->versions, summary->corrupt, summary->missing);
    }
  }
}

}  // namespace pruneserve
