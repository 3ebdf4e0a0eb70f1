// Fuzzes LoadIdxDataset. The first input byte chooses which of the two
// files gets the rest (0: images beside a valid 2-label file, 1: labels
// beside a valid 2-image file, else both halves of the rest); a declared
// size larger than the file must be an error before any allocation.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/data/idx_reader.h"
#include "tests/fuzz/fuzz_file.h"

namespace {

std::vector<uint8_t> Header(uint32_t magic, std::vector<uint32_t> dims) {
  std::vector<uint8_t> out;
  auto put = [&out](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back((v >> s) & 0xff);
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 3;
  const uint8_t* rest = data + 1;
  const size_t n = size - 1;
  std::vector<uint8_t> images = Header(0x803, {2, 2, 2});
  images.resize(images.size() + 8, 7);
  std::vector<uint8_t> labels = Header(0x801, {2});
  labels.push_back(1);
  labels.push_back(0);
  pruneserve::data::IdxOptions options;
  if (mode == 0) {
    options.images_path = pruneserve::fuzz::WriteScratchFile("i", rest, n);
    options.labels_path =
        pruneserve::fuzz::WriteScratchFile("l", labels.data(), labels.size());
  } else if (mode == 1) {
    options.images_path =
        pruneserve::fuzz::WriteScratchFile("i", images.data(), images.size());
    options.labels_path = pruneserve::fuzz::WriteScratchFile("l", rest, n);
  } else {
    options.images_path = pruneserve::fuzz::WriteScratchFile("i", rest, n / 2);
    options.labels_path =
        pruneserve::fuzz::WriteScratchFile("l", rest + n / 2, n - n / 2);
  }
  auto dataset = pruneserve::data::LoadIdxDataset(options);
  if (dataset.ok() && (*dataset)->size() > 0) (void)(*dataset)->Get(0);
  return 0;
}
