#include "tests/testing/dataset_archives.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace pruneserve::testing {
namespace {

void Die(const char* what, archive* a) {
  std::fprintf(stderr, "TarBuilder: %s: %s\n", what,
               a ? archive_error_string(a) : "");
  std::abort();
}

void PutBigEndian32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

la_ssize_t AppendToString(archive*, void* data, const void* buffer,
                          size_t length) {
  static_cast<std::string*>(data)->append(static_cast<const char*>(buffer),
                                          length);
  return static_cast<la_ssize_t>(length);
}

}  // namespace

TarBuilder& TarBuilder::File(const std::string& path,
                             const std::string& contents) {
  entries_.push_back({Entry::kFile, path, contents});
  return *this;
}
TarBuilder& TarBuilder::Dir(const std::string& path) {
  entries_.push_back({Entry::kDir, path, ""});
  return *this;
}
TarBuilder& TarBuilder::Symlink(const std::string& path,
                                const std::string& target) {
  entries_.push_back({Entry::kSymlink, path, target});
  return *this;
}
TarBuilder& TarBuilder::HardLink(const std::string& path,
                                 const std::string& target) {
  entries_.push_back({Entry::kHardLink, path, target});
  return *this;
}
TarBuilder& TarBuilder::CharDevice(const std::string& path) {
  entries_.push_back({Entry::kCharDevice, path, ""});
  return *this;
}
TarBuilder& TarBuilder::Fifo(const std::string& path) {
  entries_.push_back({Entry::kFifo, path, ""});
  return *this;
}

std::string TarBuilder::Build(bool gzip) const {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) {
    archive_write_add_filter_gzip(a);
    // No time in the gzip header: the same entries give the same bytes
    // (tests upload "the same archive" twice and expect one content address).
    if (archive_write_set_options(a, "gzip:!timestamp") != ARCHIVE_OK) {
      Die("gzip options", a);
    }
  }
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open(a, &out, nullptr, AppendToString, nullptr) !=
      ARCHIVE_OK) {
    Die("open", a);
  }
  for (const Entry& e : entries_) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, 0644);
    switch (e.kind) {
      case Entry::kFile:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
        break;
      case Entry::kDir:
        archive_entry_set_filetype(entry, AE_IFDIR);
        archive_entry_set_perm(entry, 0755);
        break;
      case Entry::kSymlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, e.data.c_str());
        break;
      case Entry::kHardLink:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, e.data.c_str());
        archive_entry_set_size(entry, 0);
        break;
      case Entry::kCharDevice:
        archive_entry_set_filetype(entry, AE_IFCHR);
        archive_entry_set_rdevmajor(entry, 1);
        archive_entry_set_rdevminor(entry, 3);
        break;
      case Entry::kFifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        break;
    }
    if (archive_write_header(a, entry) != ARCHIVE_OK) Die("header", a);
    if (e.kind == Entry::kFile && !e.data.empty() &&
        archive_write_data(a, e.data.data(), e.data.size()) !=
            static_cast<la_ssize_t>(e.data.size())) {
      Die("data", a);
    }
    archive_entry_free(entry);
  }
  if (archive_write_close(a) != ARCHIVE_OK) Die("close", a);
  archive_write_free(a);
  return out;
}

std::string IdxImages(int count, int rows, int cols) {
  std::string out;
  PutBigEndian32(out, 0x803);
  PutBigEndian32(out, count);
  PutBigEndian32(out, rows);
  PutBigEndian32(out, cols);
  for (int i = 0; i < count; ++i) {
    for (int p = 0; p < rows * cols; ++p) {
      out.push_back(static_cast<char>((i * 7 + p) & 0xff));
    }
  }
  return out;
}

std::string IdxLabels(int count, int classes) {
  std::string out;
  PutBigEndian32(out, 0x801);
  PutBigEndian32(out, count);
  for (int i = 0; i < count; ++i) out.push_back(static_cast<char>(i % classes));
  return out;
}

std::string CifarRecords(int count, bool cifar100, int classes) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    if (cifar100) out.push_back(static_cast<char>((i % classes) % 20));
    out.push_back(static_cast<char>(i % classes));
    out.append(3072, static_cast<char>(i & 0xff));
  }
  return out;
}

std::string PpmImage(int w, int h, uint8_t value) {
  std::string out =
      "P6\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  out.append(static_cast<size_t>(w) * h * 3, static_cast<char>(value));
  return out;
}

std::string SparseBombTarGz(const std::string& scratch_dir, int64_t size,
                            const std::string& name) {
  const std::string file = scratch_dir + "/" + name;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ::ftruncate(fd, size) != 0) {
    std::perror("SparseBombTarGz: sparse file");
    std::abort();
  }
  ::close(fd);
  const std::string archive = scratch_dir + "/" + name + ".tar.gz";
  const std::string command = "tar --sparse -czf '" + archive + "' -C '" +
                              scratch_dir + "' '" + name + "'";
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "SparseBombTarGz: %s failed\n", command.c_str());
    std::abort();
  }
  ::unlink(file.c_str());
  std::ifstream in(archive, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace pruneserve::testing
