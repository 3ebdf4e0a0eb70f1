#include "tests/testing/fake_backend.h"

#include <utility>

namespace pruneserve::testing {
namespace {

using inference::HostTensor;

class ScalingSession : public inference::BackendSession {
 public:
  ScalingSession(float scale, ScalingBackend::RunHook on_run)
      : scale_(scale), on_run_(std::move(on_run)) {}

  absl::StatusOr<std::vector<HostTensor>> Run(
      const std::vector<HostTensor>& inputs) override {
    if (on_run_) on_run_(inputs[0]);
    HostTensor out = inputs[0];
    out.name = "output__0";
    if (scale_ != 1.0f) {
      float* v = reinterpret_cast<float*>(out.bytes.data());
      for (int64_t i = 0; i < out.element_count(); ++i) v[i] *= scale_;
    }
    return std::vector<HostTensor>{out};
  }

 private:
  const float scale_;
  const ScalingBackend::RunHook on_run_;
};

}  // namespace

ScalingBackend::ScalingBackend(float scale, RunHook on_run)
    : scale_(scale), on_run_(std::move(on_run)) {
  inputs_.push_back({"input__0", inference::DataType::kFp32, {-1, 2}});
  outputs_.push_back({"output__0", inference::DataType::kFp32, {-1, 2}});
}

absl::StatusOr<std::unique_ptr<inference::BackendSession>>
ScalingBackend::CreateSession() {
  return std::unique_ptr<inference::BackendSession>(
      new ScalingSession(scale_, on_run_));
}

}  // namespace pruneserve::testing
