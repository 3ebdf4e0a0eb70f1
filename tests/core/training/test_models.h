// TorchScript classifiers built in C++ for the training tests. Each builder
// is deterministic for its seed. No LibTorch script headers leak out of the
// .cc beyond torch::jit::Module itself.
#ifndef PRUNESERVE_TESTS_CORE_TRAINING_TEST_MODELS_H_
#define PRUNESERVE_TESTS_CORE_TRAINING_TEST_MODELS_H_

#include <torch/script.h>

#include <cstdint>

namespace pruneserve::training::testing {

// conv(1->4, 3x3, pad 1) + BatchNorm (batch statistics in train mode,
// running statistics in eval mode) + ReLU + dropout(p) + average pool to
// 2x2 + linear(16 -> num_classes), for [N, 1, 8, 8] input. Parameters require
// grad. Buffers: bn_mean, bn_var.
torch::jit::Module MakeConvBnNet(int64_t num_classes, uint64_t seed,
                                 double dropout = 0.0);

// logits = flatten(x): input [N, 1, 1, K] passes through unchanged. No
// parameters; for evaluation tests with hand-made logits.
torch::jit::Module MakeIdentityClassifier();

// One parameter w (initialised to `w0`); logits = [w * x0, 0] where x0 is
// the single input value of [N, 1, 1, 1]. For hand-checkable SGD steps.
torch::jit::Module MakeOneWeightNet(double w0);

}  // namespace pruneserve::training::testing

#endif  // PRUNESERVE_TESTS_CORE_TRAINING_TEST_MODELS_H_
