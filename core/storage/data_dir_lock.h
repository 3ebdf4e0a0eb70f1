// DataDirLock: one process at a time per data directory.
//
// Two servers on one data directory would wipe each other's tmp/ uploads and
// collect each other's fresh blobs as garbage. The owner of the directory
// takes an exclusive flock(2) on <dir>/LOCK for its lifetime; the kernel
// drops it when the process dies, so a crash never leaves a stale lock.
#ifndef PRUNESERVE_CORE_STORAGE_DATA_DIR_LOCK_H_
#define PRUNESERVE_CORE_STORAGE_DATA_DIR_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace pruneserve {

// Holds the lock until destroyed. Not copyable; thread-compatible (nothing
// to call after Acquire()).
class DataDirLock {
 public:
  // Creates `dir` when missing and locks <dir>/LOCK without waiting.
  // FAILED_PRECONDITION naming the directory (and the holder's pid when
  // known) when another DataDirLock, in this or another process, holds it;
  // the errno-derived status when the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(
      const std::string& dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  // Path of the lock file.
  const std::string& path() const { return path_; }

 private:
  DataDirLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::string path_;
  const int fd_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_STORAGE_DATA_DIR_LOCK_H_
