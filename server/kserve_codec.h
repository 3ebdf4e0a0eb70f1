// Conversions between KServe v2 wire messages and the core's HostTensors.
#ifndef PRUNESERVE_SERVER_KSERVE_CODEC_H_
#define PRUNESERVE_SERVER_KSERVE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/inference/host_tensor.h"
#include "inference/grpc_service.pb.h"

namespace pruneserve {

// "" → 0 (latest); "3" → 3; anything else INVALID_ARGUMENT.
absl::StatusOr<int64_t> ParseModelVersion(const std::string& version);

// The request's inputs as HostTensors (raw_input_contents or typed
// contents). INVALID_ARGUMENT naming the input for an unsupported datatype,
// mixed raw/typed contents, a missing raw entry or out-of-range values.
absl::StatusOr<std::vector<inference::HostTensor>> DecodeInputs(
    const ::inference::ModelInferRequest& request);

// Fills response outputs: the requested ones (all when none requested),
// raw bytes when `raw`, typed FP32 contents otherwise. INVALID_ARGUMENT for
// an unknown requested output.
absl::Status EncodeOutputs(const ::inference::ModelInferRequest& request,
                           std::vector<inference::HostTensor> outputs, bool raw,
                           ::inference::ModelInferResponse* response);

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_KSERVE_CODEC_H_
