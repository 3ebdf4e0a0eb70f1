// The names of the data-set formats ("mnist", "fashion-mnist", "cifar10",
// "cifar100", "imagefolder"): the words of job data specs, of prunectl's
// --format and of its listings. One table, so the server, the store and the
// client agree.
#ifndef PRUNESERVE_CORE_SPEC_DATASET_FORMAT_NAMES_H_
#define PRUNESERVE_CORE_SPEC_DATASET_FORMAT_NAMES_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "pruneserve/v1/datasets.pb.h"

namespace pruneserve::spec {

// The name of `format`; "" for UNSPECIFIED or an unknown value.
absl::string_view DatasetFormatName(v1::DatasetFormat format);

// The format named `name` (exact, lower case); nullopt for any other word.
std::optional<v1::DatasetFormat> DatasetFormatFromName(absl::string_view name);

}  // namespace pruneserve::spec

#endif  // PRUNESERVE_CORE_SPEC_DATASET_FORMAT_NAMES_H_
