// The ImageFolder layout used for ImageNet-style data sets: one sub-folder
// per class under a root, holding JPEG/PNG/BMP/PGM/PPM images. Class indices
// follow the sorted sub-folder names, as torchvision's ImageFolder assigns
// them. Images are decoded lazily, on Get(), with stb_image.
#ifndef PRUNESERVE_CORE_DATA_IMAGE_FOLDER_H_
#define PRUNESERVE_CORE_DATA_IMAGE_FOLDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/image_dataset.h"

namespace pruneserve::data {

struct ImageFolderOptions {
  // Folder whose sub-folders are the classes.
  std::string root;
  // Channels every image is decoded to: 1 (grey) or 3 (RGB), whatever the
  // file holds.
  int64_t channels = 3;
  // Keep at most `limit` images (0 = all), taken round-robin over the
  // classes so a small subset still covers every class.
  int64_t limit = 0;
};

// Lists files at creation and decodes one image per Get(). Images keep
// their own size; add a resize transform before batching images of mixed
// sizes. Immutable after Create(); Get() is thread-safe and blocks on disk
// I/O and decoding.
class ImageFolderDataset : public ImageDataset {
 public:
  // Scans `options.root`. NOT_FOUND when the root is missing,
  // INVALID_ARGUMENT when it has no class folder with images or the options
  // are bad. Blocks on directory listing.
  static absl::StatusOr<std::shared_ptr<ImageFolderDataset>> Create(
      const ImageFolderOptions& options);

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t num_classes() const override {
    return static_cast<int64_t>(class_names_.size());
  }

  // Decodes the image; DATA_LOSS naming the file (and stb_image's reason)
  // when it cannot be read or decoded.
  absl::StatusOr<Example> Get(int64_t index) const override;

  // Sub-folder names; class i is class_names()[i].
  const std::vector<std::string>& class_names() const { return class_names_; }
  // Path of example `index`.
  const std::string& path(int64_t index) const { return files_[index].path; }

 private:
  struct File {
    std::string path;
    int64_t label;
  };
  ImageFolderDataset(int64_t channels, std::vector<std::string> class_names,
                     std::vector<File> files)
      : channels_(channels),
        class_names_(std::move(class_names)),
        files_(std::move(files)) {}

  int64_t channels_;
  std::vector<std::string> class_names_;
  std::vector<File> files_;
};

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_IMAGE_FOLDER_H_
