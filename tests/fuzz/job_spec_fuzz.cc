// Fuzzes ResolveJobSpec, the check every submitted job passes. The first
// byte chooses the encoding of the rest: even, the binary JobSpec; odd, its
// JSON form (what `prunectl job submit --spec` sends). A spec that resolves
// must resolve again to itself: defaults are filled once, never stacked.
#include <google/protobuf/util/json_util.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/jobs/job_spec.h"
#include "pruneserve/v1/model.pb.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  pruneserve::v1::JobSpec spec;
  if (data[0] % 2 == 0) {
    if (!spec.ParseFromString(rest)) return 0;
  } else if (!google::protobuf::util::JsonStringToMessage(rest, &spec).ok()) {
    return 0;
  }
  pruneserve::v1::ModelVersion model;
  model.set_name("m");
  model.set_version(1);
  model.set_format(pruneserve::v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int64_t d : {1, 3, 32, 32}) model.add_example_input_shape(d);
  auto resolved = pruneserve::jobs::ResolveJobSpec(spec, model);
  if (!resolved.ok()) return 0;
  auto again = pruneserve::jobs::ResolveJobSpec(*resolved, model);
  if (!again.ok() ||
      again->SerializeAsString() != resolved->SerializeAsString()) {
    std::abort();
  }
  return 0;
}
