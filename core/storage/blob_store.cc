#include "core/storage/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/util/file_util.h"

namespace pruneserve {
namespace fs = std::filesystem;

BlobStore::BlobStore(BlobStoreOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Create(
    BlobStoreOptions options) {
  if (options.root.empty()) {
    return absl::InvalidArgumentError("blob store root is empty");
  }
  auto store = std::unique_ptr<BlobStore>(new BlobStore(std::move(options)));
  for (const std::string& dir :
       {store->options_.root + "/blobs", store->tmp_dir()}) {
    absl::Status s = MakeDirectoriesDurably(dir);
    if (!s.ok()) return s;
  }
  // Anything in tmp/ belongs to an upload that never finished.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(store->tmp_dir(), ec)) {
    fs::remove(entry.path(), ec);
  }
  return store;
}

absl::StatusOr<std::unique_ptr<BlobWriter>> BlobStore::NewWriter() {
  std::string pattern = tmp_dir() + "/upload_XXXXXX";
  int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "create temp file in " + tmp_dir());
  return std::unique_ptr<BlobWriter>(new BlobWriter(this, pattern, fd));
}

std::string BlobStore::PathFor(absl::string_view sha256) const {
  return absl::StrCat(options_.root, "/blobs/", sha256.substr(0, 2), "/",
                      sha256);
}

bool BlobStore::Contains(absl::string_view sha256) const {
  std::error_code ec;
  return fs::is_regular_file(PathFor(sha256), ec);
}

absl::StatusOr<int64_t> BlobStore::SizeOf(absl::string_view sha256) const {
  std::error_code ec;
  auto size = fs::file_size(PathFor(sha256), ec);
  if (ec) return absl::NotFoundError(absl::StrCat("blob ", sha256, " missing"));
  return static_cast<int64_t>(size);
}

absl::Status BlobStore::Verify(absl::string_view sha256) const {
  const std::string path = PathFor(sha256);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("blob ", sha256, " is missing"));
    }
    return ErrnoToStatus(errno, "open " + path);
  }
  Sha256Hasher hasher;
  std::string buffer(1 << 20, '\0');
  int64_t size = 0;
  while (true) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoToStatus(err, "read " + path);
    }
    if (n == 0) break;
    hasher.Update(absl::string_view(buffer.data(), static_cast<size_t>(n)));
    size += n;
  }
  ::close(fd);
  const std::string actual = hasher.FinishHex();
  if (actual != sha256) {
    return absl::DataLossError(absl::StrCat("blob ", sha256, " holds ", size,
                                            " bytes whose sha256 is ", actual));
  }
  return absl::OkStatus();
}

absl::Status BlobStore::Remove(absl::string_view sha256) {
  std::string path = PathFor(sha256);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, "unlink " + path);
  }
  return absl::OkStatus();
}

std::vector<std::string> BlobStore::List() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry :
       fs::recursive_directory_iterator(options_.root + "/blobs", ec)) {
    if (entry.is_regular_file(ec)) {
      std::string name = entry.path().filename().string();
      if (IsSha256Hex(name)) out.push_back(name);
    }
  }
  return out;
}

BlobWriter::BlobWriter(BlobStore* store, std::string temp_path, int fd)
    : store_(store), temp_path_(std::move(temp_path)), fd_(fd) {}

BlobWriter::~BlobWriter() {
  if (!committed_) Abort();
}

absl::Status BlobWriter::Append(absl::string_view bytes) {
  if (sealed_ || fd_ < 0) {
    return absl::FailedPreconditionError("blob writer is sealed or aborted");
  }
  hasher_.Update(bytes);
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "write " + temp_path_);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  bytes_written_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> BlobWriter::Seal() {
  if (sealed_) return sha256_;
  if (fd_ < 0) return absl::FailedPreconditionError("blob writer aborted");
  if (::fsync(fd_) != 0) return ErrnoToStatus(errno, "fsync " + temp_path_);
  ::close(fd_);
  fd_ = -1;
  sha256_ = hasher_.FinishHex();
  sealed_ = true;
  return sha256_;
}

absl::Status BlobWriter::Commit() {
  if (!sealed_) return absl::FailedPreconditionError("commit before seal");
  if (committed_) return absl::OkStatus();
  std::string target = store_->PathFor(sha256_);
  // The fan-out directory blobs/<aa>/ may be new: its own entry in blobs/
  // must be durable too, or a crash can lose the directory with the blob.
  std::string dir = fs::path(target).parent_path().string();
  absl::Status s = MakeDirectoriesDurably(dir);
  if (!s.ok()) return s;
  // Same content already stored: keep the existing blob, unless it no
  // longer holds that content; then the new, just-hashed bytes replace it
  // (rename is atomic, so readers see the old file or the new one).
  if (store_->Contains(sha256_) && store_->Verify(sha256_).ok()) {
    ::unlink(temp_path_.c_str());
  } else if (::rename(temp_path_.c_str(), target.c_str()) != 0) {
    return ErrnoToStatus(errno, "rename " + temp_path_ + " -> " + target);
  }
  committed_ = true;
  s = FsyncDirectory(dir);
  if (!s.ok()) return s;
  // Also when another writer created blobs/<aa>/ a moment ago and has not
  // yet synced blobs/: the blob is acknowledged once this returns.
  return FsyncDirectory(fs::path(dir).parent_path().string());
}

void BlobWriter::Abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

}  // namespace pruneserve
