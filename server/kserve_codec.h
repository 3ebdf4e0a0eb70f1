// Conversions between KServe v2 wire messages and the core's HostTensors.
#ifndef PRUNESERVE_SERVER_KSERVE_CODEC_H_
#define PRUNESERVE_SERVER_KSERVE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/inference/host_tensor.h"
#include "core/inference/request_admission.h"
#include "inference/grpc_service.pb.h"

namespace pruneserve {

// "" → 0 (latest); "3" → 3; anything else INVALID_ARGUMENT.
absl::StatusOr<int64_t> ParseModelVersion(const std::string& version);

// A ModelInferRequest as the core's InputSource: declares each input from
// the request without copying it and decodes one (raw_input_contents or
// typed contents) only when the core has admitted it. Borrows the request,
// which must outlive it.
class KServeInputSource : public inference::InputSource {
 public:
  // INVALID_ARGUMENT when raw_input_contents is used but does not have one
  // entry per input. Copies nothing.
  static absl::StatusOr<KServeInputSource> Create(
      const ::inference::ModelInferRequest& request);

  int size() const override { return request_->inputs_size(); }
  inference::DeclaredInput Declared(int i) const override;
  // Compares the payload's size (raw bytes, or the count of typed values)
  // with the admitted element count before copying anything, so a payload
  // larger than its shape never gets decoded: INVALID_ARGUMENT naming the
  // input, also for typed contents next to raw ones and for out-of-range
  // values.
  absl::StatusOr<inference::HostTensor> Decode(
      int i, const inference::AdmittedInput& admitted) const override;

 private:
  explicit KServeInputSource(const ::inference::ModelInferRequest* request)
      : request_(request) {}
  const ::inference::ModelInferRequest* request_;
};

// Fills response outputs: the requested ones (all when none requested),
// raw bytes when `raw`, typed FP32 contents otherwise. INVALID_ARGUMENT for
// an unknown requested output.
absl::Status EncodeOutputs(const ::inference::ModelInferRequest& request,
                           std::vector<inference::HostTensor> outputs, bool raw,
                           ::inference::ModelInferResponse* response);

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_KSERVE_CODEC_H_
