#include "core/spec/dataset_format_names.h"

namespace pruneserve::spec {

namespace {

struct FormatName {
  v1::DatasetFormat format;
  absl::string_view name;
};

constexpr FormatName kFormatNames[] = {
    {v1::DATASET_FORMAT_MNIST, "mnist"},
    {v1::DATASET_FORMAT_FASHION_MNIST, "fashion-mnist"},
    {v1::DATASET_FORMAT_CIFAR10, "cifar10"},
    {v1::DATASET_FORMAT_CIFAR100, "cifar100"},
    {v1::DATASET_FORMAT_IMAGEFOLDER, "imagefolder"},
};

}  // namespace

absl::string_view DatasetFormatName(v1::DatasetFormat format) {
  for (const FormatName& f : kFormatNames) {
    if (f.format == format) return f.name;
  }
  return "";
}

std::optional<v1::DatasetFormat> DatasetFormatFromName(absl::string_view name) {
  for (const FormatName& f : kFormatNames) {
    if (f.name == name) return f.format;
  }
  return std::nullopt;
}

}  // namespace pruneserve::spec
