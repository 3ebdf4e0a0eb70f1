// Fuzzes ImageFolderDataset's decoding (stb_image behind it): the input is
// one image file of a one-class folder, read as grey or RGB by the first
// byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/data/image_folder.h"
#include "tests/fuzz/fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  pruneserve::fuzz::WriteScratchFile("root/cls/x.png", data + 1, size - 1);
  pruneserve::data::ImageFolderOptions options;
  options.root = pruneserve::fuzz::ScratchDir() + "/root";
  options.channels = data[0] % 2 == 0 ? 1 : 3;
  auto dataset = pruneserve::data::ImageFolderDataset::Create(options);
  if (!dataset.ok()) return 0;
  auto example = (*dataset)->Get(0);
  if (example.ok() && example->image.size(0) != options.channels) std::abort();
  return 0;
}
