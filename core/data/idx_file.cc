// IDX reading through zlib's gz* API, which reads gzip and plain files
// alike. Offsets in error messages count uncompressed bytes, which is what
// a user inspecting the file with `zcat | xxd` sees.
#include "core/data/idx_file.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <new>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/util/file_util.h"
#include "core/util/status_macros.h"

namespace pruneserve::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // uint8, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // uint8, 1 dimension

// A gzFile that tracks how many uncompressed bytes it has delivered.
// Not thread-safe; one per file being read.
class GzReader {
 public:
  static absl::StatusOr<GzReader> Open(const std::string& path) {
    errno = 0;
    gzFile file = gzopen(path.c_str(), "rb");
    if (file == nullptr) {
      return ErrnoToStatus(errno == 0 ? ENOMEM : errno,
                           absl::StrCat("opening ", path));
    }
    gzbuffer(file, 1 << 17);
    struct stat st;
    const int64_t file_size = ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
    return GzReader(path, file, file_size);
  }
  GzReader(GzReader&& other) noexcept
      : path_(std::move(other.path_)),
        file_(std::exchange(other.file_, nullptr)),
        file_size_(other.file_size_),
        offset_(other.offset_) {}
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }

  // Reads exactly `n` bytes describing `what`; DATA_LOSS naming the file
  // and offset when the stream ends early or is corrupt.
  absl::Status ReadExactly(void* dst, int64_t n, absl::string_view what) {
    auto* out = static_cast<unsigned char*>(dst);
    const int64_t start = offset_;
    int64_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(
          std::min<int64_t>(n - done, std::numeric_limits<int>::max() / 2));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) {
        int zerr = 0;
        const char* msg = gzerror(file_, &zerr);
        return absl::DataLossError(
            absl::StrCat(path_, ": corrupt compressed data near byte offset ",
                         offset_ + done, " while reading ", what, ": ", msg));
      }
      if (got == 0) {
        return absl::DataLossError(
            absl::StrCat(path_, ": truncated at byte offset ", offset_ + done,
                         " while reading ", what, " (needed ", n,
                         " bytes from offset ", start, ")"));
      }
      done += got;
    }
    offset_ += n;
    return absl::OkStatus();
  }

  absl::StatusOr<uint32_t> ReadBigEndian32(absl::string_view what) {
    unsigned char b[4];
    PS_RETURN_IF_ERROR(ReadExactly(b, 4, what));
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
           (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }

  // An upper bound on the uncompressed bytes left after offset(): the file
  // size for a plain file, the deflate limit (1032:1) of the compressed
  // size for gzip. Valid after the first read. Lets a header that declares
  // more data than the file can hold be refused before any allocation.
  int64_t MaxBytesLeft() const {
    if (gzdirect(file_)) return std::max<int64_t>(0, file_size_ - offset_);
    return file_size_ * kMaxDeflateRatio + kGzipSlack;
  }

  const std::string& path() const { return path_; }
  int64_t offset() const { return offset_; }

 private:
  // Deflate's largest expansion is about 1032:1; the slack covers the gzip
  // header and tiny files.
  static constexpr int64_t kMaxDeflateRatio = 1032;
  static constexpr int64_t kGzipSlack = 1 << 10;

  GzReader(std::string path, gzFile file, int64_t file_size)
      : path_(std::move(path)), file_(file), file_size_(file_size) {}

  std::string path_;
  gzFile file_;
  int64_t file_size_ = 0;
  int64_t offset_ = 0;
};

absl::Status CheckMagic(const GzReader& reader, uint32_t magic,
                        uint32_t expected) {
  if (magic == expected) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      reader.path(), ": wrong magic number 0x",
      absl::Hex(magic, absl::kZeroPad8), " at byte offset 0 (expected 0x",
      absl::Hex(expected, absl::kZeroPad8), ")"));
}

// DATA_LOSS when `reader` cannot hold the `bytes` its header declares (the
// header says more than the file has), so nothing is allocated for it.
absl::Status CheckDeclaredSize(const GzReader& reader, int64_t bytes,
                               absl::string_view what) {
  const int64_t left = reader.MaxBytesLeft();
  if (bytes <= left) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat(reader.path(), ": the header declares ", what, " (", bytes,
                   " bytes after byte offset ", reader.offset(),
                   ") but the file holds at "
                   "most ",
                   left));
}

}  // namespace

absl::StatusOr<IdxImages> ReadIdxFiles(const IdxOptions& options) {
  if (options.limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be >= 0, got ", options.limit));
  }
  if (options.num_classes < 1 || options.num_classes > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_classes must be in [1, 256], got ", options.num_classes));
  }
  PS_ASSIGN_OR_RETURN(GzReader images, GzReader::Open(options.images_path));
  PS_ASSIGN_OR_RETURN(GzReader labels, GzReader::Open(options.labels_path));

  PS_ASSIGN_OR_RETURN(uint32_t image_magic,
                      images.ReadBigEndian32("the magic number"));
  PS_RETURN_IF_ERROR(CheckMagic(images, image_magic, kImagesMagic));
  PS_ASSIGN_OR_RETURN(uint32_t count, images.ReadBigEndian32("the count"));
  PS_ASSIGN_OR_RETURN(uint32_t rows, images.ReadBigEndian32("the row count"));
  PS_ASSIGN_OR_RETURN(uint32_t cols,
                      images.ReadBigEndian32("the column count"));
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096) {
    return absl::DataLossError(absl::StrCat(images.path(),
                                            ": implausible image size ", rows,
                                            "x", cols, " at byte offset 8"));
  }

  PS_ASSIGN_OR_RETURN(uint32_t label_magic,
                      labels.ReadBigEndian32("the magic number"));
  PS_RETURN_IF_ERROR(CheckMagic(labels, label_magic, kLabelsMagic));
  PS_ASSIGN_OR_RETURN(uint32_t label_count,
                      labels.ReadBigEndian32("the count"));
  if (label_count != count) {
    return absl::DataLossError(
        absl::StrCat(labels.path(), ": label count ", label_count,
                     " at byte offset 4 does not match the image count ", count,
                     " of ", images.path()));
  }

  int64_t n = count;
  if (options.limit > 0) n = std::min<int64_t>(n, options.limit);
  // n < 2^32 and rows, cols <= 4096: the product fits in int64.
  const int64_t pixel_bytes =
      n * static_cast<int64_t>(rows) * static_cast<int64_t>(cols);
  PS_RETURN_IF_ERROR(CheckDeclaredSize(
      images, pixel_bytes,
      absl::StrCat(n, " images of ", rows, "x", cols, " pixels")));
  PS_RETURN_IF_ERROR(CheckDeclaredSize(labels, n, absl::StrCat(n, " labels")));
  IdxImages out;
  out.rows = rows;
  out.cols = cols;
  try {
    out.pixels.resize(pixel_bytes);
    out.labels.resize(n);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate ", pixel_bytes, " bytes of image pixels and ", n,
        " labels"));
  }
  PS_RETURN_IF_ERROR(
      images.ReadExactly(out.pixels.data(), pixel_bytes, "image pixels"));
  const int64_t labels_start = labels.offset();
  PS_RETURN_IF_ERROR(labels.ReadExactly(out.labels.data(), n, "labels"));
  for (int64_t i = 0; i < n; ++i) {
    if (out.labels[i] >= options.num_classes) {
      return absl::DataLossError(absl::StrCat(
          labels.path(), ": label ", static_cast<int>(out.labels[i]),
          " at byte offset ", labels_start + i, " is out of range [0, ",
          options.num_classes, ")"));
    }
  }
  return out;
}

}  // namespace pruneserve::data
