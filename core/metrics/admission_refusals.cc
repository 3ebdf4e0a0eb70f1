#include "core/metrics/admission_refusals.h"

#include <string>

#include "core/util/limit_status.h"

namespace pruneserve {

AdmissionRefusals::AdmissionRefusals(prometheus::Registry& registry)
    : refusals_(prometheus::BuildCounter()
                    .Name("pruneserve_admission_refusals_total")
                    .Help("Requests refused because they exceeded a "
                          "configured limit, by limit.")
                    .Register(registry)) {}

void AdmissionRefusals::Record(absl::string_view limit) {
  refusals_.Add({{"limit", std::string(limit)}}).Increment();
}

void AdmissionRefusals::RecordIfRefusal(const absl::Status& status) {
  if (auto limit = ExceededLimit(status)) Record(*limit);
}

}  // namespace pruneserve
