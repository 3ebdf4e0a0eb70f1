// ImageFolderDataset: directory scan with std::filesystem, decoding with
// Debian's libstb (stb_image), whose failure reason is thread-local.
#include "core/data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/util/file_util.h"
#include "core/util/status_macros.h"

namespace pruneserve::data {
namespace {

namespace fs = std::filesystem;

bool IsImageFile(const fs::path& path) {
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" ||
         ext == ".pgm" || ext == ".ppm";
}

}  // namespace

absl::StatusOr<std::shared_ptr<ImageFolderDataset>> ImageFolderDataset::Create(
    const ImageFolderOptions& options) {
  if (options.channels != 1 && options.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("channels must be 1 or 3, got ", options.channels));
  }
  if (options.limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be >= 0, got ", options.limit));
  }
  std::error_code ec;
  if (!fs::is_directory(options.root, ec)) {
    return absl::NotFoundError(absl::StrCat(options.root, ": not a directory"));
  }
  std::vector<fs::path> class_dirs;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(options.root, ec)) {
    if (entry.is_directory(ec)) class_dirs.push_back(entry.path());
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(options.root, ": listing failed: ", ec.message()));
  }
  std::sort(class_dirs.begin(), class_dirs.end());

  std::vector<std::string> class_names;
  std::vector<std::vector<std::string>> per_class;
  for (const fs::path& dir : class_dirs) {
    std::vector<std::string> images;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
      if (entry.is_regular_file(ec) && IsImageFile(entry.path())) {
        images.push_back(entry.path().string());
      }
    }
    // A class folder without images keeps its index, so class indices
    // depend only on the folder names, but contributes no examples.
    std::sort(images.begin(), images.end());
    class_names.push_back(dir.filename().string());
    per_class.push_back(std::move(images));
  }

  // Round-robin over classes: file order is (class 0 #0, class 1 #0, ...,
  // class 0 #1, ...), so any prefix is class-balanced.
  std::vector<File> files;
  for (size_t round = 0;; ++round) {
    bool any = false;
    for (size_t c = 0; c < per_class.size(); ++c) {
      if (round < per_class[c].size()) {
        files.push_back({per_class[c][round], static_cast<int64_t>(c)});
        any = true;
      }
    }
    if (!any) break;
  }
  if (files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.root,
                     ": no class sub-folders with .jpg/.jpeg/.png/.bmp/.pgm/"
                     ".ppm images"));
  }
  if (options.limit > 0 && static_cast<int64_t>(files.size()) > options.limit) {
    files.resize(options.limit);
  }
  return std::shared_ptr<ImageFolderDataset>(new ImageFolderDataset(
      options.channels, std::move(class_names), std::move(files)));
}

absl::StatusOr<Example> ImageFolderDataset::Get(int64_t index) const {
  if (index < 0 || index >= size()) {
    return absl::OutOfRangeError(
        absl::StrCat("example ", index, " out of range [0, ", size(), ")"));
  }
  const File& file = files_[index];
  absl::StatusOr<std::string> bytes = ReadFileToString(file.path);
  if (!bytes.ok()) {
    return absl::DataLossError(absl::StrCat(
        file.path, ": unreadable image: ", bytes.status().message()));
  }
  int width = 0;
  int height = 0;
  int file_channels = 0;
  stbi_uc* pixels =
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes->data()),
                            static_cast<int>(bytes->size()), &width, &height,
                            &file_channels, static_cast<int>(channels_));
  if (pixels == nullptr) {
    return absl::DataLossError(absl::StrCat(
        file.path, ": cannot decode image: ", stbi_failure_reason()));
  }
  // stb gives HWC; copy out before freeing, then view as CHW.
  torch::Tensor hwc =
      torch::from_blob(pixels, {height, width, channels_}, torch::kUInt8)
          .clone();
  stbi_image_free(pixels);
  return Example{hwc.permute({2, 0, 1}).contiguous(), file.label};
}

}  // namespace pruneserve::data
