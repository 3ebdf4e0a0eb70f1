#include "core/datasets/data_roots.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pruneserve::datasets {
namespace {

// realpath() or "" when it fails, for any reason.
std::string RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> resolved(
      ::realpath(path.c_str(), nullptr), &::free);
  return resolved ? std::string(resolved.get()) : std::string();
}

}  // namespace

absl::StatusOr<DataRoots> DataRoots::Create(
    const std::vector<std::string>& roots) {
  std::vector<std::string> resolved;
  for (const std::string& root : roots) {
    if (root.empty()) continue;
    if (root[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("--data_roots: ", root, " is not an absolute path"));
    }
    std::string real = RealPath(root);
    struct stat st;
    if (real.empty() || ::stat(real.c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data_roots: ", root, " is not a directory"));
    }
    resolved.push_back(std::move(real));
  }
  return DataRoots(std::move(resolved));
}

absl::Status DataRoots::Refusal(absl::string_view path) const {
  const std::string quoted = absl::StrCat("\"", absl::CEscape(path), "\"");
  if (roots_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server path ", quoted,
        " refused: this server accepts no server paths (it runs without "
        "--data_roots); upload the data set and name it dataset:NAME"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "server path ", quoted,
      " is not a readable directory inside the server's --data_roots; "
      "upload the data set and name it dataset:NAME"));
}

absl::StatusOr<std::string> DataRoots::Resolve(absl::string_view path,
                                               bool directory) const {
  const absl::Status refused = Refusal(path);
  if (roots_.empty()) return refused;
  if (path.empty() || path[0] != '/') return refused;
  const std::string real = RealPath(std::string(path));
  if (real.empty()) return refused;
  bool inside = false;
  for (const std::string& root : roots_) {
    if (real == root ||
        absl::StartsWith(real, root == "/" ? root : absl::StrCat(root, "/"))) {
      inside = true;
    }
  }
  // Only now look at the target: outside the roots nothing more is learnt.
  if (!inside) return refused;
  struct stat st;
  if (::stat(real.c_str(), &st) != 0) return refused;
  if (directory ? !S_ISDIR(st.st_mode)
                : !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
    return refused;
  }
  return real;
}

absl::StatusOr<std::string> DataRoots::ResolveDirectory(
    absl::string_view path) const {
  return Resolve(path, true);
}

absl::StatusOr<std::string> DataRoots::ResolveEntry(
    absl::string_view path) const {
  return Resolve(path, false);
}

}  // namespace pruneserve::datasets
