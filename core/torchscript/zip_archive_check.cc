#include "core/torchscript/zip_archive_check.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/util/file_util.h"
#include "core/util/limit_status.h"
#include "core/util/status_macros.h"

namespace pruneserve {
namespace {

// Record signatures and fixed sizes from PKWARE's APPNOTE.TXT.
constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr int64_t kLocalHeaderSize = 30;
constexpr int64_t kCentralHeaderSize = 46;
constexpr int64_t kEndSize = 22;
constexpr int64_t kZip64LocatorSize = 20;
constexpr int64_t kZip64EndSize = 56;
constexpr int64_t kMaxCommentSize = 0xFFFF;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr int kMethodStored = 0;
constexpr int kMethodDeflate = 8;
// Larger sizes cannot be summed without overflow checks at every step and
// are far beyond any limit anyway.
constexpr uint64_t kMaxEntrySize = uint64_t{1} << 62;

uint16_t Le16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
uint32_t Le32(const char* p) {
  return static_cast<uint32_t>(Le16(p)) |
         (static_cast<uint32_t>(Le16(p + 2)) << 16);
}
uint64_t Le64(const char* p) {
  return static_cast<uint64_t>(Le32(p)) |
         (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("not a loadable TorchScript archive: ", what));
}

// A read-only file read with pread(). Not thread-safe.
class ZipFile {
 public:
  static absl::StatusOr<ZipFile> Open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, path);
    }
    return ZipFile(fd, st.st_size);
  }
  ZipFile(ZipFile&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}
  ZipFile(const ZipFile&) = delete;
  ~ZipFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  int64_t size() const { return size_; }

  // Reads exactly `n` bytes at `offset`; INVALID_ARGUMENT when the file
  // ends first.
  absl::Status ReadAt(int64_t offset, int64_t n, std::string* out) const {
    if (offset < 0 || n < 0 || offset > size_ || n > size_ - offset) {
      return Malformed(absl::StrCat("a record at offset ", offset,
                                    " runs past the end of the file"));
    }
    out->resize(static_cast<size_t>(n));
    int64_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, out->data() + done,
                                static_cast<size_t>(n - done), offset + done);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoToStatus(errno, "reading the archive");
      if (r == 0) return Malformed("the file shrank while it was read");
      done += r;
    }
    return absl::OkStatus();
  }

 private:
  ZipFile(int fd, int64_t size) : fd_(fd), size_(size) {}
  int fd_;
  int64_t size_;
};

// Where the central directory is, from the (zip64) end records.
struct Directory {
  uint64_t entries = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  // Offset of the first end record: the central directory must end there.
  int64_t end_records = 0;
};

struct Entry {
  std::string name;
  int method = 0;
  uint64_t compressed = 0;
  uint64_t uncompressed = 0;
  uint64_t local_offset = 0;
  // File range of the local header and data, filled by CheckLocalHeader.
  int64_t begin = 0;
  int64_t data = 0;
  int64_t end = 0;
};

absl::StatusOr<Directory> FindDirectory(const ZipFile& file,
                                        const ZipArchiveLimits& limits) {
  if (file.size() < kEndSize) return Malformed("not a zip file (too short)");
  const int64_t tail_size =
      std::min<int64_t>(file.size(), kEndSize + kMaxCommentSize);
  const int64_t tail_offset = file.size() - tail_size;
  std::string tail;
  PS_RETURN_IF_ERROR(file.ReadAt(tail_offset, tail_size, &tail));
  int64_t at = -1;
  for (int64_t i = tail_size - kEndSize; i >= 0; --i) {
    if (Le32(&tail[i]) == kEndSignature &&
        i + kEndSize + Le16(&tail[i + 20]) <= tail_size) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    return Malformed("not a zip file (no end-of-central-directory record)");
  }
  const char* end = &tail[at];
  Directory dir;
  dir.entries = Le16(end + 10);
  dir.size = Le32(end + 12);
  dir.offset = Le32(end + 16);
  dir.end_records = tail_offset + at;
  const bool disk_fields_zero = Le16(end + 4) == 0 && Le16(end + 6) == 0;

  std::string locator;
  if (dir.end_records >= kZip64LocatorSize) {
    PS_RETURN_IF_ERROR(file.ReadAt(dir.end_records - kZip64LocatorSize,
                                   kZip64LocatorSize, &locator));
  }
  if (!locator.empty() && Le32(locator.data()) == kZip64LocatorSignature) {
    const uint64_t zip64_end = Le64(locator.data() + 8);
    if (dir.end_records < kZip64LocatorSize + kZip64EndSize ||
        zip64_end > static_cast<uint64_t>(dir.end_records - kZip64LocatorSize -
                                          kZip64EndSize)) {
      return Malformed("zip64 end record outside the file");
    }
    std::string record;
    PS_RETURN_IF_ERROR(
        file.ReadAt(static_cast<int64_t>(zip64_end), kZip64EndSize, &record));
    if (Le32(record.data()) != kZip64EndSignature) {
      return Malformed("bad zip64 end record signature");
    }
    if (Le32(record.data() + 16) != 0 || Le32(record.data() + 20) != 0) {
      return Malformed("multi-disk archives are not supported");
    }
    dir.entries = Le64(record.data() + 32);
    dir.size = Le64(record.data() + 40);
    dir.offset = Le64(record.data() + 48);
    dir.end_records = static_cast<int64_t>(zip64_end);
  } else if (!disk_fields_zero) {
    return Malformed("multi-disk archives are not supported");
  } else if (dir.entries == 0xFFFF || dir.size == 0xFFFFFFFF ||
             dir.offset == 0xFFFFFFFF) {
    return Malformed("zip64 sizes without a zip64 end record");
  }

  if (dir.entries == 0) return Malformed("the zip file has no entries");
  if (dir.entries > static_cast<uint64_t>(limits.max_entries)) {
    return LimitExceededError(
        absl::StatusCode::kResourceExhausted, "max_model_zip_entries",
        absl::StrCat("TorchScript archive has ", dir.entries,
                     " entries; the limit is ", limits.max_entries));
  }
  if (dir.offset > static_cast<uint64_t>(dir.end_records) ||
      dir.size > static_cast<uint64_t>(dir.end_records) - dir.offset) {
    return Malformed("the central directory lies outside the file");
  }
  if (dir.size > static_cast<uint64_t>(limits.max_central_directory_bytes)) {
    return Malformed(absl::StrCat("central directory of ", dir.size,
                                  " bytes is larger than the limit of ",
                                  limits.max_central_directory_bytes));
  }
  return dir;
}

// Reads the zip64 extended-information extra field: the 64-bit values of
// those fields whose 32-bit slot holds the 0xFFFFFFFF marker, in order.
absl::Status ReadZip64Extra(absl::string_view extra, Entry* e,
                            bool need_uncompressed, bool need_compressed,
                            bool need_offset) {
  while (extra.size() >= 4) {
    const uint16_t id = Le16(extra.data());
    const uint16_t size = Le16(extra.data() + 2);
    if (size > extra.size() - 4) break;
    absl::string_view body = extra.substr(4, size);
    if (id == kZip64ExtraId) {
      auto take = [&body](uint64_t* v) {
        if (body.size() < 8) return false;
        *v = Le64(body.data());
        body.remove_prefix(8);
        return true;
      };
      if ((need_uncompressed && !take(&e->uncompressed)) ||
          (need_compressed && !take(&e->compressed)) ||
          (need_offset && !take(&e->local_offset))) {
        return Malformed(
            absl::StrCat("entry \"", e->name, "\" has a short zip64 field"));
      }
      return absl::OkStatus();
    }
    extra.remove_prefix(4 + size);
  }
  return Malformed(
      absl::StrCat("entry \"", e->name, "\" lacks its zip64 sizes"));
}

// Parses every central-directory entry, summing the declared sizes against
// the limit as it goes.
absl::StatusOr<std::vector<Entry>> ReadEntries(const ZipFile& file,
                                               const Directory& dir,
                                               const ZipArchiveLimits& limits,
                                               int64_t* total) {
  std::string cd;
  PS_RETURN_IF_ERROR(file.ReadAt(static_cast<int64_t>(dir.offset),
                                 static_cast<int64_t>(dir.size), &cd));
  std::vector<Entry> entries;
  entries.reserve(static_cast<size_t>(dir.entries));
  size_t p = 0;
  uint64_t sum = 0;
  for (uint64_t k = 0; k < dir.entries; ++k) {
    if (cd.size() - p < static_cast<size_t>(kCentralHeaderSize) ||
        Le32(&cd[p]) != kCentralHeaderSignature) {
      return Malformed(absl::StrCat("central directory entry ", k + 1, " of ",
                                    dir.entries, " is damaged"));
    }
    const char* h = &cd[p];
    const uint16_t flags = Le16(h + 8);
    const size_t name_len = Le16(h + 28);
    const size_t extra_len = Le16(h + 30);
    const size_t comment_len = Le16(h + 32);
    if (cd.size() - p - kCentralHeaderSize <
        name_len + extra_len + comment_len) {
      return Malformed(absl::StrCat("central directory entry ", k + 1,
                                    " runs past the directory"));
    }
    Entry e;
    e.name.assign(h + kCentralHeaderSize, name_len);
    e.method = Le16(h + 10);
    e.compressed = Le32(h + 20);
    e.uncompressed = Le32(h + 24);
    e.local_offset = Le32(h + 42);
    const bool need_uncompressed = e.uncompressed == 0xFFFFFFFF;
    const bool need_compressed = e.compressed == 0xFFFFFFFF;
    const bool need_offset = e.local_offset == 0xFFFFFFFF;
    if (need_uncompressed || need_compressed || need_offset) {
      PS_RETURN_IF_ERROR(ReadZip64Extra(
          absl::string_view(h + kCentralHeaderSize + name_len, extra_len), &e,
          need_uncompressed, need_compressed, need_offset));
    }
    p += kCentralHeaderSize + name_len + extra_len + comment_len;

    if (e.name.empty() || e.name.find('\0') != std::string::npos) {
      return Malformed(absl::StrCat("entry ", k + 1, " has no usable name"));
    }
    if (flags & 1) {
      return Malformed(absl::StrCat("entry \"", e.name, "\" is encrypted"));
    }
    if (e.method != kMethodStored && e.method != kMethodDeflate) {
      return Malformed(absl::StrCat(
          "entry \"", e.name, "\" uses compression method ", e.method,
          "; only stored (0) and deflate (8) can be loaded"));
    }
    if (e.uncompressed >= kMaxEntrySize || e.compressed >= kMaxEntrySize) {
      return Malformed(
          absl::StrCat("entry \"", e.name, "\" declares an impossible size"));
    }
    if (e.method == kMethodStored && e.compressed != e.uncompressed) {
      return Malformed(absl::StrCat("stored entry \"", e.name,
                                    "\" has different compressed and "
                                    "uncompressed sizes"));
    }
    sum += e.uncompressed;
    if (sum > static_cast<uint64_t>(limits.max_uncompressed_bytes)) {
      return LimitExceededError(
          absl::StatusCode::kResourceExhausted, "max_model_bytes",
          absl::StrCat("TorchScript archive uncompresses to more than the "
                       "model size limit of ",
                       limits.max_uncompressed_bytes, " bytes (entry \"",
                       e.name, "\" alone declares ", e.uncompressed,
                       " bytes); the limit applies to the uncompressed size"));
    }
    entries.push_back(std::move(e));
  }
  *total = static_cast<int64_t>(sum);
  return entries;
}

// Reads the local header of `e` and fills its file range. The data must end
// before the central directory.
absl::Status CheckLocalHeader(const ZipFile& file, const Directory& dir,
                              Entry* e) {
  const uint64_t limit = dir.offset;
  if (e->local_offset > limit ||
      limit - e->local_offset < static_cast<uint64_t>(kLocalHeaderSize)) {
    return Malformed(
        absl::StrCat("entry \"", e->name, "\" starts outside the file's data"));
  }
  std::string header;
  PS_RETURN_IF_ERROR(file.ReadAt(static_cast<int64_t>(e->local_offset),
                                 kLocalHeaderSize, &header));
  if (Le32(header.data()) != kLocalHeaderSignature) {
    return Malformed(
        absl::StrCat("entry \"", e->name, "\" has no local header"));
  }
  const uint64_t data = e->local_offset + kLocalHeaderSize +
                        Le16(header.data() + 26) + Le16(header.data() + 28);
  if (data > limit || e->compressed > limit - data) {
    return Malformed(absl::StrCat("entry \"", e->name,
                                  "\" runs into the central directory"));
  }
  e->begin = static_cast<int64_t>(e->local_offset);
  e->data = static_cast<int64_t>(data);
  e->end = static_cast<int64_t>(data + e->compressed);
  return absl::OkStatus();
}

// Inflates a DEFLATE entry into a scratch buffer that is thrown away, and
// checks that it yields exactly the declared size. Stops as soon as it
// yields more.
absl::Status CheckDeflatedSize(const ZipFile& file, const Entry& e) {
  z_stream z;
  std::memset(&z, 0, sizeof(z));
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
    return absl::ResourceExhaustedError("zlib: inflateInit2 failed");
  }
  constexpr int64_t kInputChunk = 64 << 10;
  std::string input;
  std::vector<unsigned char> output(256 << 10);
  int64_t read = 0;
  uint64_t produced = 0;
  absl::Status status;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (z.avail_in == 0) {
      const int64_t n = std::min<int64_t>(kInputChunk, e.end - e.data - read);
      if (n == 0) {
        status = Malformed(absl::StrCat("entry \"", e.name,
                                        "\" has a truncated deflate stream"));
        break;
      }
      status = file.ReadAt(e.data + read, n, &input);
      if (!status.ok()) break;
      read += n;
      z.next_in = reinterpret_cast<Bytef*>(input.data());
      z.avail_in = static_cast<uInt>(n);
    }
    z.next_out = output.data();
    z.avail_out = static_cast<uInt>(output.size());
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      status = Malformed(absl::StrCat("entry \"", e.name,
                                      "\" has corrupt deflate data (",
                                      z.msg ? z.msg : "zlib error", ")"));
      break;
    }
    produced += output.size() - z.avail_out;
    if (produced > e.uncompressed) {
      status = Malformed(absl::StrCat("entry \"", e.name,
                                      "\" inflates to more than its declared ",
                                      e.uncompressed, " bytes"));
      break;
    }
  }
  inflateEnd(&z);
  if (status.ok() && produced != e.uncompressed) {
    status =
        Malformed(absl::StrCat("entry \"", e.name, "\" inflates to ", produced,
                               " bytes, not its declared ", e.uncompressed));
  }
  return status;
}

}  // namespace

absl::StatusOr<ZipArchiveSummary> CheckZipArchive(
    const std::string& path, const ZipArchiveLimits& limits) {
  PS_ASSIGN_OR_RETURN(ZipFile file, ZipFile::Open(path));
  PS_ASSIGN_OR_RETURN(Directory dir, FindDirectory(file, limits));
  ZipArchiveSummary summary;
  PS_ASSIGN_OR_RETURN(
      std::vector<Entry> entries,
      ReadEntries(file, dir, limits, &summary.uncompressed_bytes));
  summary.entries = static_cast<int64_t>(entries.size());

  for (Entry& e : entries) PS_RETURN_IF_ERROR(CheckLocalHeader(file, dir, &e));
  std::vector<const Entry*> by_offset;
  by_offset.reserve(entries.size());
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return Malformed(absl::StrCat("entries \"", by_offset[i - 1]->name,
                                    "\" and \"", by_offset[i]->name,
                                    "\" overlap"));
    }
  }

  // LibTorch names every record "<root>/<record>" after the first entry.
  const std::string& first = entries.front().name;
  const size_t slash = first.find('/');
  if (slash == std::string::npos || slash == 0) {
    return Malformed(absl::StrCat("first entry \"", first,
                                  "\" is not inside a top-level folder"));
  }
  summary.root = first.substr(0, slash);
  const std::string data_pkl = summary.root + "/data.pkl";
  if (std::none_of(entries.begin(), entries.end(),
                   [&](const Entry& e) { return e.name == data_pkl; })) {
    return Malformed(absl::StrCat("no ", data_pkl, " record"));
  }

  for (const Entry& e : entries) {
    if (e.method == kMethodDeflate)
      PS_RETURN_IF_ERROR(CheckDeflatedSize(file, e));
  }
  return summary;
}

}  // namespace pruneserve
