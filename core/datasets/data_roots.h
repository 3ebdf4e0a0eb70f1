// The allow-list of server directories a job spec may name by path
// (--data_roots). Every path is resolved with realpath(), symlinks
// included, and must then lie inside one of the roots (themselves resolved
// once at start-up). Without roots no server path is accepted.
//
// The refusal is one message for every reason — the path does not exist,
// is not a directory, lies outside the roots, or a symlink leads out — so a
// caller cannot learn anything about the file system outside the roots.
#ifndef PRUNESERVE_CORE_DATASETS_DATA_ROOTS_H_
#define PRUNESERVE_CORE_DATASETS_DATA_ROOTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve::datasets {

// Immutable after Create(); thread-safe.
class DataRoots {
 public:
  // No roots: every path is refused.
  DataRoots() = default;

  // Resolves each root. INVALID_ARGUMENT naming a root that is relative,
  // missing or not a directory (roots come from the operator, so saying so
  // reveals nothing to callers). Blocks on realpath().
  static absl::StatusOr<DataRoots> Create(
      const std::vector<std::string>& roots);

  // The resolved directory `path` names when it is an absolute path of a
  // directory inside a root, symlinks resolved. Otherwise INVALID_ARGUMENT,
  // with one message whatever the reason (see above); a server without
  // roots says so instead. Blocks on realpath().
  absl::StatusOr<std::string> ResolveDirectory(absl::string_view path) const;

  // The same for a path that must resolve to an existing regular file or
  // directory inside a root (the files of a data-set directory).
  absl::StatusOr<std::string> ResolveEntry(absl::string_view path) const;

  // The refusal ResolveDirectory gives for `path` (the one message).
  absl::Status Refusal(absl::string_view path) const;

  bool empty() const { return roots_.empty(); }
  const std::vector<std::string>& roots() const { return roots_; }

 private:
  explicit DataRoots(std::vector<std::string> roots)
      : roots_(std::move(roots)) {}
  absl::StatusOr<std::string> Resolve(absl::string_view path,
                                      bool directory) const;

  std::vector<std::string> roots_;
};

}  // namespace pruneserve::datasets

#endif  // PRUNESERVE_CORE_DATASETS_DATA_ROOTS_H_
