#include "tests/core/training/quadrant_images.h"

#include <torch/torch.h>

namespace pruneserve::training::testing {

ImageSet MakeQuadrantImages(int64_t n, int64_t num_classes, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  ImageSet set;
  set.images = torch::randn({n, 1, 8, 8}, gen) * 0.5;
  set.labels = torch::arange(n, torch::kLong).remainder(num_classes);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = set.labels[i].item<int64_t>();
    const int64_t r0 = (c / 2) * 4, c0 = (c % 2) * 4;
    set.images[i][0].slice(0, r0, r0 + 4).slice(1, c0, c0 + 4).add_(1.0);
  }
  return set;
}

}  // namespace pruneserve::training::testing
