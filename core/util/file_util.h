// Small POSIX file helpers with durability guarantees: atomic replacement
// (write temp, fsync, rename, fsync directory) and errno → Status mapping.
#ifndef PRUNESERVE_CORE_UTIL_FILE_UTIL_H_
#define PRUNESERVE_CORE_UTIL_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve {

// Maps an errno value to a Status whose message names `what` and the error.
absl::Status ErrnoToStatus(int err, absl::string_view what);

// Creates `dir` and its parents. OK when it already exists.
absl::Status MakeDirectories(const std::string& dir);

// Creates `dir` and its missing parents, fsyncing the parent of every
// directory it creates (or finds just created by a concurrent caller) so
// the new entries survive a crash; a file later renamed into `dir` and
// fsynced there is then reachable after one. OK when `dir` already exists.
// Blocks on fsync.
absl::Status MakeDirectoriesDurably(const std::string& dir);

// fsyncs a directory so a rename inside it survives a crash.
absl::Status FsyncDirectory(const std::string& dir);

// Replaces `path` with `contents` atomically: readers see the old file or the
// whole new one, never a mix, even after a crash. Blocks on fsync.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// Reads a whole file. NOT_FOUND when it does not exist.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_FILE_UTIL_H_
