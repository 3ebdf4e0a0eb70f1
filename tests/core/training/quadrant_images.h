// A small linearly separable image set for the training tests.
#ifndef PRUNESERVE_TESTS_CORE_TRAINING_QUADRANT_IMAGES_H_
#define PRUNESERVE_TESTS_CORE_TRAINING_QUADRANT_IMAGES_H_

#include <torch/types.h>

#include <cstdint>

namespace pruneserve::training::testing {

struct ImageSet {
  torch::Tensor images;  // float [N, 1, 8, 8]
  torch::Tensor labels;  // int64 [N]
};

// `n` images of `num_classes` (<= 4) classes: class c is Gaussian noise
// (sigma 0.5) plus +1 on quadrant c of the 8x8 image. Deterministic for a
// seed; does not touch the global generator.
ImageSet MakeQuadrantImages(int64_t n, int64_t num_classes, uint64_t seed);

}  // namespace pruneserve::training::testing

#endif  // PRUNESERVE_TESTS_CORE_TRAINING_QUADRANT_IMAGES_H_
