// What the job tests prune: the zoo's VGG-11-BN at a quarter width for
// [N, 1, 28, 28] inputs, and Fashion-MNIST where the dataset package
// installed it (tests skip without it).
#ifndef PRUNESERVE_TESTS_CORE_JOBS_FASHION_VGG_H_
#define PRUNESERVE_TESTS_CORE_JOBS_FASHION_VGG_H_

#include <torch/script.h>

#include <string>

#include "absl/status/statusor.h"

namespace pruneserve::jobs {

// True when the Fashion-MNIST files are installed.
bool FashionMnistInstalled();

// The data-set spec of a Fashion-MNIST split, e.g. "fashion-mnist:DIR:train".
std::string FashionMnistSpec(const std::string& split);

// The small VGG, in eval mode; the zoo's error when it cannot be built.
absl::StatusOr<torch::jit::Module> SmallFashionVgg();

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_TESTS_CORE_JOBS_FASHION_VGG_H_
