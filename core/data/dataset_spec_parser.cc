#include "core/data/dataset_spec_parser.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pruneserve::data {
namespace {

struct FormatName {
  const char* name;
  DatasetFormat format;
};

constexpr FormatName kFormats[] = {
    {"mnist", DatasetFormat::kMnist},
    {"fashion-mnist", DatasetFormat::kFashionMnist},
    {"cifar10", DatasetFormat::kCifar10},
    {"cifar100", DatasetFormat::kCifar100},
    {"imagefolder", DatasetFormat::kImageFolder},
};

constexpr const char* kKnownFormats =
    "mnist, fashion-mnist, cifar10, cifar100, imagefolder";

}  // namespace

absl::StatusOr<DatasetSpec> ParseDatasetSpec(absl::string_view spec) {
  const size_t colon = spec.find(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("data set spec '", spec,
                     "' has no ':'; expected FORMAT:DIR[:SPLIT] "
                     "with FORMAT one of ",
                     kKnownFormats));
  }
  const absl::string_view format_name = spec.substr(0, colon);
  absl::string_view rest = spec.substr(colon + 1);
  DatasetSpec out;
  bool known = false;
  for (const FormatName& f : kFormats) {
    if (format_name == f.name) {
      out.format = f.format;
      known = true;
    }
  }
  if (!known) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown data set format '", format_name, "' in '", spec,
                     "'; known: ", kKnownFormats));
  }
  for (const char* split : {"train", "test", "val"}) {
    const std::string suffix = absl::StrCat(":", split);
    if (absl::EndsWith(rest, suffix)) {
      out.split = split;
      rest.remove_suffix(suffix.size());
      break;
    }
  }
  out.dir = std::string(rest);
  if (out.dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("data set spec '", spec, "' names no directory"));
  }
  if (out.format != DatasetFormat::kImageFolder) {
    if (out.split.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data set spec '", spec, "' needs a split: append :train or :test"));
    }
    if (out.split == "val") {
      return absl::InvalidArgumentError(
          absl::StrCat("data set spec '", spec, "': ", format_name,
                       " has only the splits train and test"));
    }
  }
  return out;
}

}  // namespace pruneserve::data
