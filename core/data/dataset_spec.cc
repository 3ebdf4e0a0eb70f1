// Dispatch from a parsed spec to the IDX, CIFAR and ImageFolder loaders.
#include "core/data/dataset_spec.h"

#include <sys/stat.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/data/cifar_reader.h"
#include "core/data/idx_reader.h"
#include "core/data/image_folder.h"
#include "core/util/status_macros.h"

namespace pruneserve::data {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// "<dir>/<stem>.gz" if present, else the uncompressed "<dir>/<stem>".
std::string IdxPath(const std::string& dir, const std::string& stem) {
  std::string gz = absl::StrCat(dir, "/", stem, ".gz");
  if (Exists(gz)) return gz;
  std::string plain = absl::StrCat(dir, "/", stem);
  return Exists(plain) ? plain : gz;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ImageDataset>> OpenDataset(
    const DatasetSpec& spec, const OpenOptions& options) {
  switch (spec.format) {
    case DatasetFormat::kMnist:
    case DatasetFormat::kFashionMnist: {
      const std::string prefix = spec.split == "train" ? "train" : "t10k";
      IdxOptions idx;
      idx.images_path = IdxPath(spec.dir, prefix + "-images-idx3-ubyte");
      idx.labels_path = IdxPath(spec.dir, prefix + "-labels-idx1-ubyte");
      idx.limit = options.limit;
      PS_ASSIGN_OR_RETURN(auto dataset, LoadIdxDataset(idx));
      return std::shared_ptr<const ImageDataset>(std::move(dataset));
    }
    case DatasetFormat::kCifar10:
    case DatasetFormat::kCifar100: {
      CifarOptions cifar;
      cifar.variant = spec.format == DatasetFormat::kCifar10
                          ? CifarVariant::kCifar10
                          : CifarVariant::kCifar100;
      PS_ASSIGN_OR_RETURN(cifar.files,
                          CifarSplitFiles(spec.dir, cifar.variant, spec.split));
      cifar.limit = options.limit;
      PS_ASSIGN_OR_RETURN(auto dataset, LoadCifarDataset(cifar));
      return std::shared_ptr<const ImageDataset>(std::move(dataset));
    }
    case DatasetFormat::kImageFolder: {
      ImageFolderOptions folder;
      folder.root = spec.split.empty()
                        ? spec.dir
                        : absl::StrCat(spec.dir, "/", spec.split);
      folder.channels = options.image_folder_channels;
      folder.limit = options.limit;
      PS_ASSIGN_OR_RETURN(auto dataset, ImageFolderDataset::Create(folder));
      return std::shared_ptr<const ImageDataset>(std::move(dataset));
    }
  }
  return absl::InvalidArgumentError("unknown data set format");
}

FormatDefaults DefaultsFor(DatasetFormat format) {
  switch (format) {
    case DatasetFormat::kMnist:
      return {1, 28, {0.1307}, {0.3081}};
    case DatasetFormat::kFashionMnist:
      return {1, 28, {0.2860}, {0.3530}};
    case DatasetFormat::kCifar10:
      return {3, 32, {0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}};
    case DatasetFormat::kCifar100:
      return {3, 32, {0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}};
    case DatasetFormat::kImageFolder:
      break;
  }
  return {3, 224, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}};
}

}  // namespace pruneserve::data
