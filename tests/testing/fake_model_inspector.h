// A ModelInspector for repository tests: accepts any bytes except those that
// start with "bad", and records fixed parameter counts, so repository logic
// can be tested without LibTorch. Tests can also make it accept everything
// (to store what a stricter release would refuse) and hold every Inspect()
// until released (to fill the repository's check slots).
#ifndef PRUNESERVE_TESTS_TESTING_FAKE_MODEL_INSPECTOR_H_
#define PRUNESERVE_TESTS_TESTING_FAKE_MODEL_INSPECTOR_H_

#include <algorithm>
#include <fstream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "core/repository/model_inspector.h"

namespace pruneserve::testing {

// Thread-safe.
class FakeModelInspector : public ModelInspector {
 public:
  absl::Status Inspect(const std::string& path,
                       v1::ModelVersion* model) const override {
    {
      absl::MutexLock lock(&mu_);
      ++calls_;
      ++inside_;
      most_inside_ = std::max(most_inside_, inside_);
      mu_.Await(absl::Condition(
          +[](bool* held) { return !*held; }, &held_));
      --inside_;
    }
    std::ifstream in(path, std::ios::binary);
    std::string head(3, '\0');
    in.read(head.data(), 3);
    if (head == "bad" && !accept_all()) {
      return absl::InvalidArgumentError("fake: bad model");
    }
    model->set_parameter_count(7);
    model->set_forward_input_count(1);
    return absl::OkStatus();
  }

  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // Most Inspect() calls that were running at the same time.
  int most_inside() const {
    absl::MutexLock lock(&mu_);
    return most_inside_;
  }
  // Accept "bad" bytes too.
  void set_accept_all(bool accept) {
    absl::MutexLock lock(&mu_);
    accept_all_ = accept;
  }
  // Hold(): Inspect() calls wait until Release().
  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }
  // Blocks until `n` Inspect() calls are waiting or running.
  void WaitUntilInside(int n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return inside_ >= n; };
    mu_.Await(absl::Condition(&reached));
  }

 private:
  bool accept_all() const {
    absl::MutexLock lock(&mu_);
    return accept_all_;
  }

  mutable absl::Mutex mu_;
  mutable int calls_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int inside_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int most_inside_ ABSL_GUARDED_BY(mu_) = 0;
  mutable bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool accept_all_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_FAKE_MODEL_INSPECTOR_H_
