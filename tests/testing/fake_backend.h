// A fake InferenceBackend for tests of the code around backends (instance
// pool, model manager): one FP32 input "input__0" of shape [-1, 2], one
// output "output__0" equal to the input times `scale`. Each run first calls
// `on_run` (when set) on the session's thread with the batch's input, so a
// test can count, record or hold batches. Thread-safe when `on_run` is.
#ifndef PRUNESERVE_TESTS_TESTING_FAKE_BACKEND_H_
#define PRUNESERVE_TESTS_TESTING_FAKE_BACKEND_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/inference/inference_backend.h"

namespace pruneserve::testing {

class ScalingBackend : public inference::InferenceBackend {
 public:
  using RunHook = std::function<void(const inference::HostTensor& input)>;

  explicit ScalingBackend(float scale = 1.0f, RunHook on_run = nullptr);

  const std::vector<inference::TensorSpec>& inputs() const override {
    return inputs_;
  }
  const std::vector<inference::TensorSpec>& outputs() const override {
    return outputs_;
  }
  std::string platform() const override { return "fake"; }
  absl::StatusOr<std::unique_ptr<inference::BackendSession>> CreateSession()
      override;

 private:
  const float scale_;
  const RunHook on_run_;
  std::vector<inference::TensorSpec> inputs_, outputs_;
};

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_FAKE_BACKEND_H_
