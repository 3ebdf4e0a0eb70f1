// CIFAR binary batches: whole files are read at once (30 MB each) and
// copied record by record into one image tensor.
#include "core/data/cifar_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/util/file_util.h"
#include "core/util/status_macros.h"

namespace pruneserve::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

}  // namespace

absl::StatusOr<std::vector<std::string>> CifarSplitFiles(
    const std::string& dir, CifarVariant variant, absl::string_view split) {
  if (split != "train" && split != "test") {
    return absl::InvalidArgumentError(absl::StrCat(
        "CIFAR split must be 'train' or 'test', got '", split, "'"));
  }
  std::vector<std::string> files;
  if (variant == CifarVariant::kCifar100) {
    files.push_back(absl::StrCat(dir, "/", split, ".bin"));
  } else if (split == "test") {
    files.push_back(absl::StrCat(dir, "/test_batch.bin"));
  } else {
    for (int i = 1; i <= 5; ++i) {
      files.push_back(absl::StrCat(dir, "/data_batch_", i, ".bin"));
    }
  }
  return files;
}

absl::StatusOr<std::shared_ptr<InMemoryImageDataset>> LoadCifarDataset(
    const CifarOptions& options) {
  if (options.files.empty()) {
    return absl::InvalidArgumentError("no CIFAR files given");
  }
  if (options.limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be >= 0, got ", options.limit));
  }
  const bool cifar100 = options.variant == CifarVariant::kCifar100;
  const int64_t label_bytes = cifar100 ? 2 : 1;
  const int64_t record = label_bytes + kPixels;
  const int64_t num_classes = !cifar100 ? 10 : options.coarse_labels ? 20 : 100;
  // CIFAR-100 records hold (coarse, fine); pick the requested byte.
  const int64_t label_index = cifar100 && !options.coarse_labels ? 1 : 0;

  // Read every file first so the tensor is allocated once.
  std::vector<std::string> contents;
  int64_t total = 0;
  for (const std::string& path : options.files) {
    if (options.limit > 0 && total >= options.limit) break;
    PS_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
    const int64_t size = static_cast<int64_t>(bytes.size());
    if (size == 0 || size % record != 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": truncated record at byte offset ",
                       size - size % record, " (file size ", size,
                       " is not a multiple of the ", record, "-byte record)"));
    }
    total += size / record;
    contents.push_back(std::move(bytes));
  }
  const int64_t n = options.limit > 0 ? std::min(total, options.limit) : total;

  torch::Tensor images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  torch::Tensor labels = torch::empty({n}, torch::kLong);
  uint8_t* image_out = images.data_ptr<uint8_t>();
  int64_t* label_out = labels.data_ptr<int64_t>();
  int64_t i = 0;
  for (size_t f = 0; f < contents.size() && i < n; ++f) {
    const auto* bytes =
        reinterpret_cast<const unsigned char*>(contents[f].data());
    const int64_t records = static_cast<int64_t>(contents[f].size()) / record;
    for (int64_t r = 0; r < records && i < n; ++r, ++i) {
      const unsigned char* rec = bytes + r * record;
      const int64_t label = rec[label_index];
      if (label >= num_classes) {
        return absl::DataLossError(
            absl::StrCat(options.files[f], ": label ", label,
                         " at byte offset ", r * record + label_index,
                         " is out of range [0, ", num_classes, ")"));
      }
      label_out[i] = label;
      // The record's pixel layout (planes of R, G, B) already is CHW.
      std::memcpy(image_out + i * kPixels, rec + label_bytes, kPixels);
    }
  }
  return std::make_shared<InMemoryImageDataset>(std::move(images),
                                                std::move(labels), num_classes);
}

}  // namespace pruneserve::data
