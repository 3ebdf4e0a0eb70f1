#include "core/datasets/job_data_resolver.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/data/dataset_spec_parser.h"
#include "core/datasets/dataset_validator.h"
#include "core/spec/dataset_format_names.h"
#include "core/util/status_macros.h"

namespace pruneserve::datasets {
namespace {

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::string_view ParserFormatName(data::DatasetFormat f) {
  switch (f) {
    case data::DatasetFormat::kMnist:
      return "mnist";
    case data::DatasetFormat::kFashionMnist:
      return "fashion-mnist";
    case data::DatasetFormat::kCifar10:
      return "cifar10";
    case data::DatasetFormat::kCifar100:
      return "cifar100";
    case data::DatasetFormat::kImageFolder:
      return "imagefolder";
  }
  return "";
}

}  // namespace

absl::StatusOr<std::string> JobDataResolver::Resolve(
    const std::string& spec) const {
  if (absl::StartsWith(spec, kStoredDatasetPrefix)) {
    return ResolveStored(
        absl::string_view(spec).substr(kStoredDatasetPrefix.size()));
  }
  return ResolveServerPath(spec);
}

absl::StatusOr<std::string> JobDataResolver::ResolveStored(
    absl::string_view reference) const {
  const std::vector<std::string> parts = absl::StrSplit(reference, ':');
  const std::string& name = parts[0];
  int64_t version = 0;
  std::string split;
  bool ok = parts.size() <= 3;
  for (const std::string& part : parts) ok = ok && !part.empty();
  if (ok && parts.size() == 2) {
    if (AllDigits(parts[1])) {
      ok = absl::SimpleAtoi(parts[1], &version) && version > 0;
    } else {
      split = parts[1];
    }
  } else if (ok && parts.size() == 3) {
    ok = AllDigits(parts[1]) && absl::SimpleAtoi(parts[1], &version) &&
         version > 0;
    split = parts[2];
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"dataset:", reference,
        "\" is not dataset:NAME[:VERSION][:SPLIT] (VERSION a number >= 1)"));
  }
  if (store_ == nullptr) {
    return absl::NotFoundError(absl::StrCat("data set ", name, " not found"));
  }
  PS_ASSIGN_OR_RETURN(v1::Dataset dataset, store_->Get(name, version));
  std::vector<std::string> have;
  for (const v1::DatasetSplit& s : dataset.splits()) have.push_back(s.name());
  if (split.empty()) {
    if (std::find(have.begin(), have.end(), "train") != have.end()) {
      split = "train";
    } else if (have.size() == 1) {
      split = have[0];
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "data set ", name, ":", dataset.version(),
          " has no train split; name one of ", absl::StrJoin(have, ", ")));
    }
  } else if (std::find(have.begin(), have.end(), split) == have.end()) {
    for (std::string& h : have) {
      if (h.empty()) h = "(none: name no split)";
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "data set ", name, ":", dataset.version(), " has no split \"", split,
        "\"; it has ", absl::StrJoin(have, ", ")));
  }
  PS_ASSIGN_OR_RETURN(std::string dir, store_->DirectoryOf(dataset));
  std::string out =
      absl::StrCat(spec::DatasetFormatName(dataset.format()), ":", dir);
  if (!split.empty()) absl::StrAppend(&out, ":", split);
  return out;
}

absl::StatusOr<std::string> JobDataResolver::ResolveServerPath(
    const std::string& spec) const {
  PS_ASSIGN_OR_RETURN(data::DatasetSpec parsed, data::ParseDatasetSpec(spec));
  // The directory the reader will list: an ImageFolder split is its own
  // directory, which may be a symlink of its own.
  std::string dir = parsed.dir;
  std::string split = parsed.split;
  if (parsed.format == data::DatasetFormat::kImageFolder && !split.empty()) {
    dir = absl::StrCat(dir, "/", split);
    split.clear();
  }
  PS_ASSIGN_OR_RETURN(std::string real, roots_.ResolveDirectory(dir));
  // Everything the reader will open must stay inside the roots too, under
  // the same wording as `dir`: the files directly in it (IDX, CIFAR), or
  // for an ImageFolder its class directories and the files in each (the
  // reader follows links at both levels).
  const bool image_folder = parsed.format == data::DatasetFormat::kImageFolder;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(real, ec)) {
    auto inside = roots_.ResolveEntry(entry.path().string());
    if (!inside.ok()) return roots_.Refusal(dir);
    if (!image_folder || !std::filesystem::is_directory(*inside, ec)) continue;
    for (const auto& file : std::filesystem::directory_iterator(*inside, ec)) {
      if (!roots_.ResolveEntry(file.path().string()).ok()) {
        return roots_.Refusal(dir);
      }
    }
  }
  std::string out = absl::StrCat(ParserFormatName(parsed.format), ":", real);
  if (!split.empty()) absl::StrAppend(&out, ":", split);
  return out;
}

bool JobDataResolver::ReadsDirectory(const std::string& resolved_spec,
                                     const std::string& dir) {
  auto parsed = data::ParseDatasetSpec(resolved_spec);
  if (!parsed.ok()) return false;
  return parsed->dir == dir || absl::StartsWith(parsed->dir, dir + "/");
}

}  // namespace pruneserve::datasets
