// Data-set archives made at test time: a tar builder that writes any entry
// (including the hostile ones the server must refuse: "../x", absolute
// paths, links, devices), synthetic IDX, CIFAR and PPM files, and a
// decompressed-size bomb (a sparse file tarred with GNU tar, a few hundred
// bytes that declare gigabytes).
#ifndef PRUNESERVE_TESTS_TESTING_DATASET_ARCHIVES_H_
#define PRUNESERVE_TESTS_TESTING_DATASET_ARCHIVES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace pruneserve::testing {

// Collects entries and writes them as a pax tar, optionally gzipped. Not
// thread-safe.
class TarBuilder {
 public:
  TarBuilder& File(const std::string& path, const std::string& contents);
  TarBuilder& Dir(const std::string& path);
  TarBuilder& Symlink(const std::string& path, const std::string& target);
  TarBuilder& HardLink(const std::string& path, const std::string& target);
  TarBuilder& CharDevice(const std::string& path);
  TarBuilder& Fifo(const std::string& path);
  // The archive's bytes. Aborts the test binary on a libarchive error.
  std::string Build(bool gzip = false) const;

 private:
  struct Entry {
    enum Kind { kFile, kDir, kSymlink, kHardLink, kCharDevice, kFifo } kind;
    std::string path;
    std::string data;  // contents, or the link target
  };
  std::vector<Entry> entries_;
};

// IDX image file (magic 0x803) of `count` rows x cols images whose pixels
// are (i * 7 + p) & 0xff, and the label file (magic 0x801) with label
// i % classes. Uncompressed.
std::string IdxImages(int count, int rows = 28, int cols = 28);
std::string IdxLabels(int count, int classes = 10);
// `count` CIFAR-10 (3073-byte) or CIFAR-100 (3074-byte) records, label
// i % classes.
std::string CifarRecords(int count, bool cifar100 = false, int classes = 10);
// A binary PPM (P6) image of w x h pixels of one colour.
std::string PpmImage(int w, int h, uint8_t value = 128);

// A gzipped GNU tar holding one sparse file of `size` bytes named
// `name`, made with `tar --sparse` under `scratch_dir` (a directory the
// test owns). Returns the archive's bytes; aborts when tar fails.
std::string SparseBombTarGz(const std::string& scratch_dir, int64_t size,
                            const std::string& name = "bomb.bin");

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_DATASET_ARCHIVES_H_
