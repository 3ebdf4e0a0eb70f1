#include "core/storage/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/util/file_util.h"

namespace pruneserve {

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(
    const std::string& dir) {
  absl::Status made = MakeDirectoriesDurably(dir);
  if (!made.ok()) return made;
  std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "open lock file " + path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      ::close(fd);
      return ErrnoToStatus(err, "lock " + path);
    }
    // The holder wrote its pid; it is only a hint for the message.
    std::string holder(32, '\0');
    ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? static_cast<size_t>(n) : 0);
    absl::StripAsciiWhitespace(&holder);
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", dir, " is in use by another pruneserve process",
        holder.empty() ? "" : absl::StrCat(" (pid ", holder, ")"),
        ": it holds the lock on ", path,
        ". Stop that server or choose another --data_dir."));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) == 0) {
    ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(std::move(path), fd));
}

DataDirLock::~DataDirLock() {
  // Closing the descriptor releases the flock.
  ::close(fd_);
}

}  // namespace pruneserve
