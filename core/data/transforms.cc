// Transform building blocks on ATen ops, and the ImageTransform pipeline.
#include "core/data/transforms.h"

#include <ATen/ATen.h>

#include <numeric>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/torch_status.h"

namespace pruneserve::data {

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t ExampleSeed(uint64_t seed, int64_t epoch, int64_t index) {
  return Mix64(Mix64(Mix64(seed) ^ static_cast<uint64_t>(epoch)) ^
               static_cast<uint64_t>(index));
}

std::vector<int64_t> EpochOrder(int64_t n, bool shuffle, uint64_t seed,
                                int64_t epoch) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  uint64_t state = Mix64(Mix64(seed) ^ (static_cast<uint64_t>(epoch) << 1 | 1));
  for (int64_t i = n - 1; i > 0; --i) {
    state = Mix64(state);
    const int64_t j =
        static_cast<int64_t>(state % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

torch::Tensor ResizeBilinear(const torch::Tensor& image, int64_t height,
                             int64_t width) {
  return at::upsample_bilinear2d(image.unsqueeze(0), {height, width},
                                 /*align_corners=*/false)
      .squeeze(0);
}

torch::Tensor PadZeros(const torch::Tensor& image, int64_t pad) {
  if (pad == 0) return image;
  return at::constant_pad_nd(image, {pad, pad, pad, pad}, 0.0);
}

torch::Tensor Crop(const torch::Tensor& image, int64_t top, int64_t left,
                   int64_t height, int64_t width) {
  return image.slice(1, top, top + height).slice(2, left, left + width);
}

torch::Tensor FlipHorizontal(const torch::Tensor& image) {
  return image.flip({2});
}

torch::Tensor Normalize(const torch::Tensor& image,
                        const std::vector<double>& mean,
                        const std::vector<double>& std) {
  const int64_t c = image.size(0);
  auto expand = [c](const std::vector<double>& v) {
    std::vector<float> out(c, static_cast<float>(v[0]));
    for (int64_t i = 0; i < c && i < static_cast<int64_t>(v.size()); ++i) {
      out[i] = static_cast<float>(v[i]);
    }
    return at::tensor(out).view({c, 1, 1});
  };
  return (image - expand(mean)) / expand(std);
}

torch::Tensor RepeatChannels(const torch::Tensor& image, int64_t channels) {
  if (image.size(0) == channels) return image;
  return image.expand({channels, image.size(1), image.size(2)}).contiguous();
}

absl::StatusOr<ImageTransform> ImageTransform::Create(
    const TransformOptions& options) {
  if (options.channels < 0 || options.resize < 0 || options.pad < 0 ||
      options.random_crop_padding < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "transform sizes must be >= 0 (channels ", options.channels,
        ", resize ", options.resize, ", pad ", options.pad,
        ", random_crop_padding ", options.random_crop_padding, ")"));
  }
  if (options.mean.size() != options.std.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("normalisation mean has ", options.mean.size(),
                     " values but std has ", options.std.size()));
  }
  if (!options.mean.empty() && options.channels > 0 &&
      options.mean.size() != 1 &&
      static_cast<int64_t>(options.mean.size()) != options.channels) {
    return absl::InvalidArgumentError(
        absl::StrCat("normalisation has ", options.mean.size(), " values for ",
                     options.channels, " channels"));
  }
  for (double s : options.std) {
    if (!(s > 0.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("normalisation std must be > 0, got [",
                       absl::StrJoin(options.std, ", "), "]"));
    }
  }
  return ImageTransform(options);
}

absl::StatusOr<torch::Tensor> ImageTransform::Apply(
    const torch::Tensor& image, uint64_t example_seed) const {
  if (image.dim() != 3 || image.scalar_type() != torch::kUInt8) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a uint8 [C, H, W] image, got ",
                     c10::toString(image.scalar_type()), " [",
                     absl::StrJoin(image.sizes().vec(), ", "), "]"));
  }
  const int64_t in_channels = image.size(0);
  const TransformOptions& o = options_;
  if (o.channels > 0 && in_channels != o.channels && in_channels != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot adapt a ", in_channels, "-channel image to ",
                     o.channels, " channels"));
  }
  const int64_t out_channels = o.channels > 0 ? o.channels : in_channels;
  if (!o.mean.empty() && o.mean.size() != 1 &&
      static_cast<int64_t>(o.mean.size()) != out_channels) {
    return absl::InvalidArgumentError(
        absl::StrCat("normalisation has ", o.mean.size(), " values for a ",
                     out_channels, "-channel image"));
  }
  try {
    torch::Tensor x = image.to(torch::kFloat).div_(255.0f);
    x = RepeatChannels(x, out_channels);
    if (o.resize > 0 && (x.size(1) != o.resize || x.size(2) != o.resize)) {
      x = ResizeBilinear(x, o.resize, o.resize);
    }
    x = PadZeros(x, o.pad);
    uint64_t state = example_seed;
    if (o.random_crop_padding > 0) {
      const int64_t h = x.size(1);
      const int64_t w = x.size(2);
      const uint64_t range = 2 * o.random_crop_padding + 1;
      state = Mix64(state);
      const int64_t top = static_cast<int64_t>(state % range);
      state = Mix64(state);
      const int64_t left = static_cast<int64_t>(state % range);
      x = Crop(PadZeros(x, o.random_crop_padding), top, left, h, w);
    }
    if (o.random_horizontal_flip) {
      state = Mix64(state ^ 0x5bd1e995ULL);
      if (state & 1) x = FlipHorizontal(x);
    }
    if (!o.mean.empty()) x = Normalize(x, o.mean, o.std);
    return x.contiguous();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("transforming image of shape [",
                        absl::StrJoin(image.sizes().vec(), ", "), "]"));
  }
}

}  // namespace pruneserve::data
