#include "core/datasets/dataset_validator.h"

#include <stb/stb_image.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/data/idx_file.h"
#include "core/util/file_util.h"
#include "core/util/status_macros.h"

namespace pruneserve::datasets {
namespace {

std::string Quoted(absl::string_view s) {
  return absl::StrCat("\"", absl::CEscape(s), "\"");
}

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

// ---- IDX ------------------------------------------------------------------

struct IdxPair {
  std::string images;
  std::string labels;
};

// "train-images-idx3-ubyte" etc. with or without ".gz": the split prefix
// ("train" or "t10k") and whether it is the image file. False for others.
bool ParseIdxName(absl::string_view name, std::string* prefix, bool* images) {
  absl::ConsumeSuffix(&name, ".gz");
  for (const char* p : {"train", "t10k"}) {
    if (name == absl::StrCat(p, "-images-idx3-ubyte")) {
      *prefix = p;
      *images = true;
      return true;
    }
    if (name == absl::StrCat(p, "-labels-idx1-ubyte")) {
      *prefix = p;
      *images = false;
      return true;
    }
  }
  return false;
}

absl::StatusOr<v1::DatasetSplit> CheckIdxPair(const std::string& dir,
                                              const IdxPair& pair,
                                              absl::string_view split) {
  data::IdxOptions options;
  options.images_path = absl::StrCat(dir, "/", pair.images);
  options.labels_path = absl::StrCat(dir, "/", pair.labels);
  options.num_classes = 256;
  auto read = data::ReadIdxFiles(options);
  if (!read.ok()) {
    return Invalid(absl::StrCat("IDX pair ", Quoted(pair.images), " + ",
                                Quoted(pair.labels), ": ",
                                read.status().message()));
  }
  if (read->count() == 0) {
    return Invalid(absl::StrCat("IDX pair ", Quoted(pair.images), " + ",
                                Quoted(pair.labels), " holds no images"));
  }
  std::set<uint8_t> labels(read->labels.begin(), read->labels.end());
  v1::DatasetSplit out;
  out.set_name(std::string(split));
  out.set_images(read->count());
  out.set_classes(static_cast<int64_t>(labels.size()));
  out.set_height(read->rows);
  out.set_width(read->cols);
  out.set_channels(1);
  return out;
}

// One image file and one label file under any names: find which is which
// by reading them, then rename them to the split's standard names.
absl::StatusOr<std::vector<v1::DatasetSplit>> ValidateHintedIdx(
    const std::string& dir, const std::vector<std::string>& files,
    absl::string_view split) {
  if (split != "train" && split != "test") {
    return Invalid(absl::StrCat("split ", Quoted(split),
                                ": IDX data sets have the splits train and "
                                "test"));
  }
  if (files.size() != 2) {
    return Invalid(absl::StrCat(
        "an IDX upload with split \"", split,
        "\" must hold exactly one image file and one label file; it holds ",
        files.size(), " files"));
  }
  IdxPair pair{files[0], files[1]};
  auto first = CheckIdxPair(dir, pair, split);
  if (!first.ok()) {
    std::swap(pair.images, pair.labels);
    auto second = CheckIdxPair(dir, pair, split);
    if (!second.ok()) return first.status();
    first = std::move(second);
  }
  const std::string prefix = split == "train" ? "train" : "t10k";
  // Through temporary names: the two files may be named each other's
  // target. gzip or not, zlib reads both, so the names carry no ".gz".
  const std::pair<std::string, std::string> renames[] = {
      {pair.images, ".images.tmp"},
      {pair.labels, ".labels.tmp"},
      {".images.tmp", prefix + "-images-idx3-ubyte"},
      {".labels.tmp", prefix + "-labels-idx1-ubyte"}};
  for (const auto& [from, to] : renames) {
    const std::string src = absl::StrCat(dir, "/", from);
    const std::string dst = absl::StrCat(dir, "/", to);
    if (std::rename(src.c_str(), dst.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", src));
    }
  }
  PS_RETURN_IF_ERROR(FsyncDirectory(dir));
  return std::vector<v1::DatasetSplit>{*first};
}

absl::StatusOr<std::vector<v1::DatasetSplit>> ValidateIdx(
    const std::string& dir, const std::vector<std::string>& files,
    absl::string_view split_hint) {
  if (!split_hint.empty()) return ValidateHintedIdx(dir, files, split_hint);
  std::map<std::string, IdxPair> pairs;
  for (const std::string& file : files) {
    std::string prefix;
    bool images = false;
    if (!ParseIdxName(file, &prefix, &images)) {
      return Invalid(absl::StrCat(
          "unexpected file ", Quoted(file),
          " in an IDX data set: expected train-images-idx3-ubyte, "
          "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
          "t10k-labels-idx1-ubyte (each optionally .gz), or a split in the "
          "header"));
    }
    std::string& slot = images ? pairs[prefix].images : pairs[prefix].labels;
    if (!slot.empty()) {
      return Invalid(absl::StrCat("both ", Quoted(slot), " and ", Quoted(file),
                                  " are present; keep one"));
    }
    slot = file;
  }
  if (pairs.empty()) return Invalid("the archive holds no IDX files");
  std::vector<v1::DatasetSplit> out;
  for (const char* prefix : {"train", "t10k"}) {
    auto it = pairs.find(prefix);
    if (it == pairs.end()) continue;
    if (it->second.images.empty() || it->second.labels.empty()) {
      return Invalid(absl::StrCat(
          Quoted(it->second.images.empty() ? it->second.labels
                                           : it->second.images),
          " has no ", it->second.images.empty() ? "image" : "label",
          " file beside it"));
    }
    PS_ASSIGN_OR_RETURN(
        v1::DatasetSplit split,
        CheckIdxPair(dir, it->second,
                     std::string(prefix) == "train" ? "train" : "test"));
    out.push_back(std::move(split));
  }
  return out;
}

// ---- CIFAR ----------------------------------------------------------------

absl::StatusOr<v1::DatasetSplit> CheckCifarFiles(
    const std::string& dir, const std::vector<std::string>& names,
    bool cifar100, absl::string_view split) {
  const int64_t record = cifar100 ? 3074 : 3073;
  const int classes_max = cifar100 ? 100 : 10;
  std::set<int> labels;
  int64_t images = 0;
  std::string buffer(static_cast<size_t>(record) * 256, '\0');
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return ErrnoToStatus(errno, absl::StrCat("open ", path));
    int64_t offset = 0;
    absl::Status status;
    while (status.ok()) {
      const size_t n = std::fread(buffer.data(), 1, buffer.size(), f);
      if (n % record != 0) {
        status = Invalid(absl::StrCat("file ", Quoted(name), ": ", offset + n,
                                      " bytes is not a whole number of ",
                                      record, "-byte CIFAR-",
                                      cifar100 ? "100" : "10", " records"));
        break;
      }
      for (size_t r = 0; r < n; r += record) {
        const int label =
            static_cast<unsigned char>(buffer[r + (cifar100 ? 1 : 0)]);
        if (label >= classes_max ||
            (cifar100 && static_cast<unsigned char>(buffer[r]) >= 20)) {
          status = Invalid(absl::StrCat("file ", Quoted(name),
                                        ": record at "
                                        "byte ",
                                        offset + r, " has label ", label,
                                        " (at most ", classes_max - 1, ")"));
          break;
        }
        labels.insert(label);
        ++images;
      }
      offset += n;
      if (n < buffer.size()) break;
    }
    std::fclose(f);
    PS_RETURN_IF_ERROR(status);
    if (offset == 0)
      return Invalid(absl::StrCat("file ", Quoted(name), " is empty"));
  }
  v1::DatasetSplit out;
  out.set_name(std::string(split));
  out.set_images(images);
  out.set_classes(static_cast<int64_t>(labels.size()));
  out.set_height(32);
  out.set_width(32);
  out.set_channels(3);
  return out;
}

absl::StatusOr<std::vector<v1::DatasetSplit>> ValidateCifar(
    const std::string& dir, const std::vector<std::string>& files,
    bool cifar100) {
  std::vector<std::string> train_names, test_names, allowed_extra;
  if (cifar100) {
    train_names = {"train.bin"};
    test_names = {"test.bin"};
    allowed_extra = {"coarse_label_names.txt", "fine_label_names.txt"};
  } else {
    for (int i = 1; i <= 5; ++i) {
      train_names.push_back(absl::StrCat("data_batch_", i, ".bin"));
    }
    test_names = {"test_batch.bin"};
    allowed_extra = {"batches.meta.txt", "readme.html"};
  }
  const std::set<std::string> present(files.begin(), files.end());
  auto listed = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (const std::string& file : files) {
    if (!listed(train_names, file) && !listed(test_names, file) &&
        !listed(allowed_extra, file)) {
      return Invalid(absl::StrCat("unexpected file ", Quoted(file),
                                  " in a CIFAR-", cifar100 ? "100" : "10",
                                  " data set: expected ",
                                  absl::StrJoin(train_names, ", "), " and/or ",
                                  absl::StrJoin(test_names, ", ")));
    }
  }
  std::vector<v1::DatasetSplit> out;
  for (auto [split, names] :
       {std::pair{"train", &train_names}, std::pair{"test", &test_names}}) {
    size_t have = 0;
    for (const std::string& n : *names) have += present.count(n);
    if (have == 0) continue;
    if (have != names->size()) {
      std::vector<std::string> missing;
      for (const std::string& n : *names) {
        if (!present.count(n)) missing.push_back(n);
      }
      return Invalid(absl::StrCat("the ", split, " split lacks ",
                                  absl::StrJoin(missing, ", ")));
    }
    PS_ASSIGN_OR_RETURN(v1::DatasetSplit s,
                        CheckCifarFiles(dir, *names, cifar100, split));
    out.push_back(std::move(s));
  }
  if (out.empty()) return Invalid("the archive holds no CIFAR batch files");
  return out;
}

// ---- ImageFolder ----------------------------------------------------------

bool IsImageName(absl::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == absl::string_view::npos) return false;
  const std::string ext = absl::AsciiStrToLower(name.substr(dot));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" ||
         ext == ".pgm" || ext == ".ppm";
}

absl::StatusOr<std::vector<v1::DatasetSplit>> ValidateImageFolder(
    const std::string& dir, const std::vector<std::string>& files) {
  if (files.empty()) return Invalid("the archive holds no images");
  static const std::set<std::string> kSplits = {"train", "val", "test"};
  // Split layout when every file is <split>/<class>/<image>.
  bool split_layout = true;
  for (const std::string& file : files) {
    std::vector<std::string> parts = absl::StrSplit(file, '/');
    if (parts.size() != 3 || !kSplits.count(parts[0])) split_layout = false;
  }
  struct SplitInfo {
    std::map<std::string, int64_t> classes;
    int64_t images = 0;
    int width = -1, height = -1, channels = -1;
  };
  std::map<std::string, SplitInfo> splits;
  for (const std::string& file : files) {
    std::vector<std::string> parts = absl::StrSplit(file, '/');
    const size_t depth = split_layout ? 3 : 2;
    if (parts.size() != depth) {
      return Invalid(absl::StrCat(
          "file ", Quoted(file),
          " is not at <class>/<image> (or <split>/<class>/<image> for every "
          "file, with splits train, val, test)"));
    }
    if (!IsImageName(parts.back())) {
      return Invalid(absl::StrCat(
          "file ", Quoted(file),
          " is not an image (.png, .jpg, .jpeg, .bmp, .ppm, .pgm)"));
    }
    int w = 0, h = 0, c = 0;
    const std::string path = absl::StrCat(dir, "/", file);
    if (stbi_info(path.c_str(), &w, &h, &c) == 0) {
      return Invalid(
          absl::StrCat("file ", Quoted(file),
                       " is not a decodable image: ", stbi_failure_reason()));
    }
    SplitInfo& s = splits[split_layout ? parts[0] : ""];
    ++s.classes[parts[depth - 2]];
    ++s.images;
    s.width = s.width == -1 || s.width == w ? w : 0;
    s.height = s.height == -1 || s.height == h ? h : 0;
    s.channels = s.channels == -1 || s.channels == c ? c : 0;
  }
  std::vector<v1::DatasetSplit> out;
  const std::map<std::string, int64_t>* first_classes = nullptr;
  std::string first_name;
  for (const char* name : {"", "train", "val", "test"}) {
    auto it = splits.find(name);
    if (it == splits.end()) continue;
    const SplitInfo& s = it->second;
    if (first_classes != nullptr) {
      std::vector<std::string> a, b;
      for (const auto& [k, v] : *first_classes) a.push_back(k);
      for (const auto& [k, v] : s.classes) b.push_back(k);
      if (a != b) {
        return Invalid(absl::StrCat(
            "the splits ", first_name, " and ", name,
            " have different classes (", absl::StrJoin(a, ","), " vs ",
            absl::StrJoin(b, ","), "): labels would not match"));
      }
    } else {
      first_classes = &s.classes;
      first_name = name;
    }
    v1::DatasetSplit split;
    split.set_name(name);
    split.set_images(s.images);
    split.set_classes(static_cast<int64_t>(s.classes.size()));
    split.set_width(s.width);
    split.set_height(s.height);
    split.set_channels(s.channels);
    out.push_back(std::move(split));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<v1::DatasetSplit>> ValidateDatasetFiles(
    const std::string& dir, const std::vector<std::string>& files,
    v1::DatasetFormat format, absl::string_view split_hint) {
  if (!split_hint.empty() && format != v1::DATASET_FORMAT_MNIST &&
      format != v1::DATASET_FORMAT_FASHION_MNIST) {
    return Invalid(
        "header.split applies to IDX uploads (MNIST, Fashion-MNIST) only");
  }
  switch (format) {
    case v1::DATASET_FORMAT_MNIST:
    case v1::DATASET_FORMAT_FASHION_MNIST:
      return ValidateIdx(dir, files, split_hint);
    case v1::DATASET_FORMAT_CIFAR10:
      return ValidateCifar(dir, files, false);
    case v1::DATASET_FORMAT_CIFAR100:
      return ValidateCifar(dir, files, true);
    case v1::DATASET_FORMAT_IMAGEFOLDER:
      return ValidateImageFolder(dir, files);
    default:
      return Invalid(
          "header.format: required (MNIST, FASHION_MNIST, CIFAR10, CIFAR100 "
          "or IMAGEFOLDER)");
  }
}

}  // namespace pruneserve::datasets
