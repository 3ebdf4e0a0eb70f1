// A ModelInspector for repository tests: accepts any bytes except those that
// start with "bad", and records fixed parameter counts, so repository logic
// can be tested without LibTorch.
#ifndef PRUNESERVE_TESTS_TESTING_FAKE_MODEL_INSPECTOR_H_
#define PRUNESERVE_TESTS_TESTING_FAKE_MODEL_INSPECTOR_H_

#include <atomic>
#include <fstream>
#include <string>

#include "core/repository/model_inspector.h"

namespace pruneserve::testing {

// Thread-safe.
class FakeModelInspector : public ModelInspector {
 public:
  absl::Status Inspect(const std::string& path,
                       v1::ModelVersion* model) const override {
    ++calls_;
    std::ifstream in(path, std::ios::binary);
    std::string head(3, '\0');
    in.read(head.data(), 3);
    if (head == "bad") return absl::InvalidArgumentError("fake: bad model");
    model->set_parameter_count(7);
    model->set_forward_input_count(1);
    return absl::OkStatus();
  }
  int calls() const { return calls_; }

 private:
  mutable std::atomic<int> calls_{0};
};

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_FAKE_MODEL_INSPECTOR_H_
