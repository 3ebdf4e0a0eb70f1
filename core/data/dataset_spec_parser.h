// Parsing of data-set specs ("fashion-mnist:DIR:train", see dataset_spec.h)
// without opening anything, so that code which only checks a spec (job
// spec validation, flags) needs no LibTorch.
#ifndef PRUNESERVE_CORE_DATA_DATASET_SPEC_PARSER_H_
#define PRUNESERVE_CORE_DATA_DATASET_SPEC_PARSER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve::data {

enum class DatasetFormat {
  kMnist,
  kFashionMnist,
  kCifar10,
  kCifar100,
  kImageFolder
};

struct DatasetSpec {
  DatasetFormat format = DatasetFormat::kFashionMnist;
  // Directory holding the files.
  std::string dir;
  // "train", "test" or "val"; empty only for imagefolder without a split.
  std::string split;
};

// Parses a spec string. INVALID_ARGUMENT naming the problem (unknown
// format, listing the known ones; missing directory; a split the format
// does not have). Does not touch the disk.
absl::StatusOr<DatasetSpec> ParseDatasetSpec(absl::string_view spec);

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_DATASET_SPEC_PARSER_H_
