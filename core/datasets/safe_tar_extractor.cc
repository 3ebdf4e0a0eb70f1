#include "core/datasets/safe_tar_extractor.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/util/file_util.h"
#include "core/util/limit_status.h"
#include "core/util/status_macros.h"

namespace pruneserve::datasets {
namespace {

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};

// Closes a descriptor on every path out of a scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now; the errno-derived status when close() fails.
  absl::Status Close(const std::string& what) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoToStatus(errno, what);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

std::string Quoted(absl::string_view path) {
  return absl::StrCat("\"", absl::CEscape(path), "\"");
}

absl::Status Refused(absl::string_view entry, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("archive entry ", Quoted(entry), " refused: ", why));
}

// The entry's path as plain components, or the reason it is refused.
absl::StatusOr<std::vector<std::string>> SplitEntryPath(
    absl::string_view raw, const TarLimits& limits) {
  if (raw.empty()) return Refused(raw, "empty path");
  if (static_cast<int64_t>(raw.size()) > limits.max_path_bytes) {
    return Refused(
        raw.substr(0, 64),
        absl::StrCat("path longer than ", limits.max_path_bytes, " bytes"));
  }
  if (raw[0] == '/') return Refused(raw, "absolute path");
  std::vector<std::string> parts;
  bool leading = true;
  for (absl::string_view part : absl::StrSplit(raw, '/')) {
    if (leading && part == ".") continue;  // "./x", as tar -C dir . writes
    leading = false;
    if (part.empty()) continue;  // "a//b" and a directory's trailing '/'
    if (part == "..") return Refused(raw, "'..' in the path");
    if (part == ".") return Refused(raw, "'.' inside the path");
    for (char c : part) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '\\') {
        return Refused(raw, "control character or '\\' in the path");
      }
    }
    parts.emplace_back(part);
  }
  return parts;
}

// Creates dest/parts[0]/.../parts[n-1] as directories; only directories
// this extraction created (or dest itself) are ever followed.
absl::Status MakeDirs(const std::string& dest,
                      const std::vector<std::string>& parts, size_t n,
                      std::set<std::string>& made) {
  std::string path = dest;
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&path, "/", parts[i]);
    if (made.count(path)) continue;
    if (::mkdir(path.c_str(), 0755) != 0) {
      if (errno == EEXIST) {
        return absl::InvalidArgumentError(
            absl::StrCat("archive entry ", Quoted(absl::StrJoin(parts, "/")),
                         " refused: ", Quoted(parts[i]), " is already a file"));
      }
      return ErrnoToStatus(errno, absl::StrCat("create directory ", path));
    }
    made.insert(path);
  }
  return absl::OkStatus();
}

const char* TypeName(mode_t type) {
  switch (type) {
    case AE_IFLNK:
      return "symbolic link";
    case AE_IFCHR:
      return "character device";
    case AE_IFBLK:
      return "block device";
    case AE_IFIFO:
      return "FIFO";
    case AE_IFSOCK:
      return "socket";
    default:
      return "entry of an unknown type";
  }
}

}  // namespace

absl::StatusOr<ExtractedFiles> ExtractTarSafely(const std::string& archive_path,
                                                const std::string& dest_dir,
                                                const TarLimits& limits) {
  std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
  if (!a) return absl::ResourceExhaustedError("libarchive: out of memory");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) !=
      ARCHIVE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("the upload is not a readable tar archive: ",
                     archive_error_string(a.get())));
  }
  ExtractedFiles out;
  std::set<std::string> made = {dest_dir};
  std::string buffer(1 << 16, '\0');
  int64_t entries = 0;
  while (true) {
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return absl::InvalidArgumentError(
          absl::StrCat("the upload is not a readable tar archive (after ",
                       entries, " entries): ", archive_error_string(a.get())));
    }
    if (++entries > limits.max_entries) {
      return LimitExceededError(
          absl::StatusCode::kResourceExhausted, "dataset_max_entries",
          absl::StrCat("the archive holds more than ", limits.max_entries,
                       " entries (--dataset_max_entries)"));
    }
    const char* raw_path = archive_entry_pathname(entry);
    const std::string raw = raw_path == nullptr ? "" : raw_path;
    // Before the path: a link's target is refused whatever its name.
    if (archive_entry_hardlink(entry) != nullptr) {
      return Refused(raw, "hard link");
    }
    const mode_t type = archive_entry_filetype(entry);
    if (type != AE_IFREG && type != AE_IFDIR) {
      return Refused(raw, TypeName(type));
    }
    PS_ASSIGN_OR_RETURN(std::vector<std::string> parts,
                        SplitEntryPath(raw, limits));
    if (parts.empty()) {
      if (type == AE_IFDIR) continue;  // "./" itself
      return Refused(raw, "a file without a name");
    }
    if (type == AE_IFDIR) {
      const std::string path =
          absl::StrCat(dest_dir, "/", absl::StrJoin(parts, "/"));
      if (!made.count(path)) {
        PS_RETURN_IF_ERROR(MakeDirs(dest_dir, parts, parts.size(), made));
      }
      continue;
    }
    const int64_t remaining = limits.max_extracted_bytes - out.bytes;
    auto over_cap = [&](int64_t size) {
      return LimitExceededError(
          absl::StatusCode::kResourceExhausted, "dataset_max_extracted_mb",
          absl::StrCat("archive entry ", Quoted(raw), " of ", size,
                       " bytes takes the extracted data set over ",
                       limits.max_extracted_bytes,
                       " bytes (--dataset_max_extracted_mb)"));
    };
    if (archive_entry_size_is_set(entry) &&
        archive_entry_size(entry) > remaining) {
      return over_cap(archive_entry_size(entry));
    }
    PS_RETURN_IF_ERROR(MakeDirs(dest_dir, parts, parts.size() - 1, made));
    const std::string rel = absl::StrJoin(parts, "/");
    const std::string path = absl::StrCat(dest_dir, "/", rel);
    if (made.count(path))
      return Refused(raw, "a directory of that name exists");
    ScopedFd fd(::open(path.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0644));
    if (fd.get() < 0) {
      if (errno == EEXIST) return Refused(raw, "duplicate entry");
      return ErrnoToStatus(errno, absl::StrCat("create ", path));
    }
    int64_t written = 0;
    while (true) {
      const la_ssize_t n =
          archive_read_data(a.get(), buffer.data(), buffer.size());
      if (n == 0) break;
      if (n < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("archive entry ", Quoted(raw),
                         " cannot be read: ", archive_error_string(a.get())));
      }
      if (written + n > remaining) return over_cap(written + n);
      for (la_ssize_t off = 0; off < n;) {
        const ssize_t w = ::write(fd.get(), buffer.data() + off, n - off);
        if (w < 0) {
          if (errno == EINTR) continue;
          return ErrnoToStatus(errno, absl::StrCat("write ", path));
        }
        off += w;
      }
      written += n;
    }
    if (::fsync(fd.get()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("fsync ", path));
    }
    PS_RETURN_IF_ERROR(fd.Close(absl::StrCat("close ", path)));
    out.bytes += written;
    out.files.push_back(rel);
  }
  // Every directory made, explicitly or as a file's parent, so the new
  // entries survive a crash once the caller renames dest_dir into place.
  for (const std::string& dir : made) {
    PS_RETURN_IF_ERROR(FsyncDirectory(dir));
  }
  return out;
}

}  // namespace pruneserve::datasets
