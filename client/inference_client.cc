#include "client/inference_client.h"

#include <grpcpp/grpcpp.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/repository_client.h"

namespace pruneserve::client {

InferenceClient::InferenceClient(std::shared_ptr<grpc::Channel> channel,
                                 absl::Duration timeout)
    : timeout_(timeout),
      stub_(::inference::GRPCInferenceService::NewStub(channel)) {}

void InferenceClient::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
}

absl::Status InferenceClient::Load(const std::string& name,
                                   const LoadOptions& options) {
  grpc::ClientContext context;
  SetDeadline(&context);
  ::inference::RepositoryModelLoadRequest request;
  request.set_model_name(name);
  auto set = [&](const char* key, int64_t value) {
    if (value > 0) (*request.mutable_parameters())[key].set_int64_param(value);
  };
  set("version", options.version);
  set("instances", options.instances);
  set("max_batch_size", options.max_batch_size);
  ::inference::RepositoryModelLoadResponse response;
  return FromGrpcStatus(
      stub_->RepositoryModelLoad(&context, request, &response));
}

absl::Status InferenceClient::Unload(const std::string& name, int64_t version) {
  grpc::ClientContext context;
  SetDeadline(&context);
  ::inference::RepositoryModelUnloadRequest request;
  request.set_model_name(name);
  if (version > 0) {
    (*request.mutable_parameters())["version"].set_int64_param(version);
  }
  ::inference::RepositoryModelUnloadResponse response;
  return FromGrpcStatus(
      stub_->RepositoryModelUnload(&context, request, &response));
}

absl::StatusOr<::inference::RepositoryIndexResponse> InferenceClient::Index() {
  grpc::ClientContext context;
  SetDeadline(&context);
  ::inference::RepositoryIndexResponse response;
  grpc::Status s = stub_->RepositoryIndex(&context, {}, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::StatusOr<::inference::ModelMetadataResponse> InferenceClient::Metadata(
    const std::string& name, int64_t version) {
  grpc::ClientContext context;
  SetDeadline(&context);
  ::inference::ModelMetadataRequest request;
  request.set_name(name);
  if (version > 0) request.set_version(absl::StrCat(version));
  ::inference::ModelMetadataResponse response;
  grpc::Status s = stub_->ModelMetadata(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::StatusOr<InferOutput> InferenceClient::Infer(
    const std::string& name, int64_t version, const std::vector<int64_t>& shape,
    const std::vector<float>& values) {
  grpc::ClientContext context;
  SetDeadline(&context);
  ::inference::ModelInferRequest request;
  request.set_model_name(name);
  if (version > 0) request.set_model_version(absl::StrCat(version));
  auto* input = request.add_inputs();
  input->set_name("input__0");
  input->set_datatype("FP32");
  for (int64_t d : shape) input->add_shape(d);
  request.add_raw_input_contents(reinterpret_cast<const char*>(values.data()),
                                 values.size() * sizeof(float));
  ::inference::ModelInferResponse response;
  grpc::Status s = stub_->ModelInfer(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  if (response.outputs_size() == 0 ||
      response.raw_output_contents_size() == 0) {
    return absl::DataLossError("inference response carried no output");
  }
  InferOutput out;
  out.model_version = response.model_version();
  out.shape.assign(response.outputs(0).shape().begin(),
                   response.outputs(0).shape().end());
  const std::string& raw = response.raw_output_contents(0);
  out.values.resize(raw.size() / sizeof(float));
  std::memcpy(out.values.data(), raw.data(), out.values.size() * sizeof(float));
  return out;
}

}  // namespace pruneserve::client
