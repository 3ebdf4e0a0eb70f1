// Per-example image transforms: the building blocks (resize, pad, crop,
// flip, normalise, channel repetition) on float [C, H, W] tensors, and
// ImageTransform, the fixed pipeline the loader runs on every example.
//
// Randomness (crop offsets, flips) comes from a 64-bit per-example seed,
// derived from (loader seed, epoch, example index) by ExampleSeed(), so
// augmentations do not depend on which thread decodes an example or when.
#ifndef PRUNESERVE_CORE_DATA_TRANSFORMS_H_
#define PRUNESERVE_CORE_DATA_TRANSFORMS_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace pruneserve::data {

// SplitMix64 finaliser; a good 64-bit mixer with no state.
uint64_t Mix64(uint64_t x);

// The seed of example `index`'s augmentations in epoch `epoch`.
uint64_t ExampleSeed(uint64_t seed, int64_t epoch, int64_t index);

// The visiting order of [0, n) for an epoch: identity without shuffling,
// otherwise a Fisher–Yates permutation driven by Mix64(seed, epoch). Does not
// depend on the standard library's distributions, so it is the same on every
// platform.
std::vector<int64_t> EpochOrder(int64_t n, bool shuffle, uint64_t seed,
                                int64_t epoch);

// Building blocks. All take and return float [C, H, W] and never modify
// their input.

// Bilinear resize (align_corners = false, no antialiasing; torchvision's
// tensor Resize without antialias).
torch::Tensor ResizeBilinear(const torch::Tensor& image, int64_t height,
                             int64_t width);
// `pad` zero pixels on every side.
torch::Tensor PadZeros(const torch::Tensor& image, int64_t pad);
// The [top, top + height) x [left, left + width) window.
torch::Tensor Crop(const torch::Tensor& image, int64_t top, int64_t left,
                   int64_t height, int64_t width);
// Mirror left–right.
torch::Tensor FlipHorizontal(const torch::Tensor& image);
// (x - mean[c]) / std[c] per channel.
torch::Tensor Normalize(const torch::Tensor& image,
                        const std::vector<double>& mean,
                        const std::vector<double>& std);
// 1 channel → `channels` identical ones (grayscale into RGB models); a
// no-op when the image already has `channels`.
torch::Tensor RepeatChannels(const torch::Tensor& image, int64_t channels);

struct TransformOptions {
  // Output channels; 0 keeps the input's. Only 1 → N repetition and N → N
  // are possible.
  int64_t channels = 0;
  // Bilinear resize to resize x resize; 0 keeps the input size.
  int64_t resize = 0;
  // Zero padding added on every side (changes the output size).
  int64_t pad = 0;
  // Training augmentation: pad by this many zeros, then crop a random
  // window of the unpadded size (CIFAR's "random crop 32, padding 4"). 0 off.
  int64_t random_crop_padding = 0;
  // Training augmentation: mirror with probability 1/2.
  bool random_horizontal_flip = false;
  // Per-channel normalisation after scaling pixels to [0, 1]; empty means
  // none. One value, or one per output channel.
  std::vector<double> mean;
  std::vector<double> std;
};

// The pipeline uint8 [C, H, W] → float [C', H', W'], in this order: scale to
// [0, 1], channel repetition, resize, pad, random crop, random flip,
// normalisation. Immutable after Create(); Apply() is thread-safe.
class ImageTransform {
 public:
  // INVALID_ARGUMENT for negative sizes, mean/std of the wrong length or a
  // non-positive std.
  static absl::StatusOr<ImageTransform> Create(const TransformOptions& options);

  // Transforms one image with augmentations drawn from `example_seed`.
  // INVALID_ARGUMENT when the image is not uint8 [C, H, W] or its channels
  // cannot be adapted. Does not block.
  absl::StatusOr<torch::Tensor> Apply(const torch::Tensor& image,
                                      uint64_t example_seed) const;

  const TransformOptions& options() const { return options_; }

 private:
  explicit ImageTransform(TransformOptions options)
      : options_(std::move(options)) {}
  TransformOptions options_;
};

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_TRANSFORMS_H_
