// Turns the data fields of a submitted job spec into the specs a worker
// opens, on the server: "dataset:NAME[:VERSION][:SPLIT]" becomes the
// stored data set's directory in its own format, and a server path is
// accepted only inside --data_roots (data_roots.h) and replaced by its
// realpath. The job stores what this returns, so a worker never resolves a
// path or a name again.
#ifndef PRUNESERVE_CORE_DATASETS_JOB_DATA_RESOLVER_H_
#define PRUNESERVE_CORE_DATASETS_JOB_DATA_RESOLVER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/datasets/data_roots.h"
#include "core/datasets/dataset_store.h"

namespace pruneserve::datasets {

inline constexpr absl::string_view kStoredDatasetPrefix = "dataset:";

// Thread-safe; borrows the store, which must outlive it.
class JobDataResolver {
 public:
  // `store` may be null: then "dataset:" specs are NOT_FOUND.
  JobDataResolver(const DatasetStore* store, DataRoots roots)
      : store_(store), roots_(std::move(roots)) {}

  // The spec to store for `spec`. For "dataset:NAME[:VERSION][:SPLIT]":
  // NOT_FOUND naming the data set (and version) when absent;
  // INVALID_ARGUMENT for a malformed reference or a split the data set does
  // not have (listing those it has). The split defaults to "train" when
  // the data set has one, else to its only split. Other specs must parse
  // (data::ParseDatasetSpec) and name a directory inside the roots, as must
  // every entry directly in it (a symlinked file leading out is refused);
  // INVALID_ARGUMENT otherwise, worded as DataRoots words it. Blocks on
  // SQLite and realpath().
  absl::StatusOr<std::string> Resolve(const std::string& spec) const;

  // Whether `resolved_spec` (a result of Resolve) reads files under `dir`.
  static bool ReadsDirectory(const std::string& resolved_spec,
                             const std::string& dir);

 private:
  absl::StatusOr<std::string> ResolveStored(absl::string_view reference) const;
  absl::StatusOr<std::string> ResolveServerPath(const std::string& spec) const;

  const DatasetStore* store_;
  const DataRoots roots_;
};

}  // namespace pruneserve::datasets

#endif  // PRUNESERVE_CORE_DATASETS_JOB_DATA_RESOLVER_H_
