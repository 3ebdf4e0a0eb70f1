// Small TorchScript models written to disk for tests that need real archives
// but not the model zoo. No LibTorch types in this header.
#ifndef PRUNESERVE_TESTS_TESTING_TINY_MODELS_H_
#define PRUNESERVE_TESTS_TESTING_TINY_MODELS_H_

#include <string>

namespace pruneserve::testing {

// Saves a conv(1→4, 3x3, pad 1) + BN + ReLU + global-avg-pool + linear(4→10)
// classifier taking [N, 1, 28, 28] to `path`. Deterministic for a seed.
// Throws std::runtime_error on failure (tests only).
void WriteTinyCnn(const std::string& path, int seed = 0);

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_TINY_MODELS_H_
