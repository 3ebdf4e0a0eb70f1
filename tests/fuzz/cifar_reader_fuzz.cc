// Fuzzes LoadCifarDataset on one batch file, CIFAR-10 or CIFAR-100 (fine
// or coarse labels) chosen by the first byte.
#include <cstddef>
#include <cstdint>

#include "core/data/cifar_reader.h"
#include "tests/fuzz/fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  pruneserve::data::CifarOptions options;
  options.variant = data[0] % 2 == 0
                        ? pruneserve::data::CifarVariant::kCifar10
                        : pruneserve::data::CifarVariant::kCifar100;
  options.coarse_labels = (data[0] & 2) != 0;
  options.files = {
      pruneserve::fuzz::WriteScratchFile("batch.bin", data + 1, size - 1)};
  auto dataset = pruneserve::data::LoadCifarDataset(options);
  if (dataset.ok() && (*dataset)->size() > 0) {
    (void)(*dataset)->Get((*dataset)->size() - 1);
  }
  return 0;
}
