#include "client/job_client.h"

#include <grpcpp/grpcpp.h>

#include "client/repository_client.h"

namespace pruneserve::client {

JobClient::JobClient(std::shared_ptr<grpc::Channel> channel,
                     JobClientOptions options)
    : options_(options), stub_(v1::PruningJobs::NewStub(channel)) {}

void JobClient::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
}

absl::StatusOr<v1::Job> JobClient::Submit(const v1::JobSpec& spec) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse response;
  grpc::Status s = stub_->SubmitJob(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response.job();
}

absl::StatusOr<v1::Job> JobClient::Get(const std::string& id) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetJobRequest request;
  request.set_id(id);
  v1::GetJobResponse response;
  grpc::Status s = stub_->GetJob(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response.job();
}

absl::StatusOr<v1::Job> JobClient::Cancel(const std::string& id) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::CancelJobRequest request;
  request.set_id(id);
  v1::CancelJobResponse response;
  grpc::Status s = stub_->CancelJob(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response.job();
}

absl::StatusOr<v1::ListJobsResponse> JobClient::List(
    v1::JobState state, int page_size, const std::string& page_token) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListJobsRequest request;
  request.set_state(state);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  v1::ListJobsResponse response;
  grpc::Status s = stub_->ListJobs(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

absl::StatusOr<v1::Job> JobClient::Watch(
    const std::string& id,
    const std::function<bool(const v1::Job&)>& on_event) {
  grpc::ClientContext context;
  v1::WatchJobRequest request;
  request.set_id(id);
  auto reader = stub_->WatchJob(&context, request);
  v1::JobEvent event;
  v1::Job last;
  bool stopped_early = false;
  while (reader->Read(&event)) {
    last = event.job();
    if (on_event && !on_event(last)) {
      stopped_early = true;
      context.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (stopped_early) return last;
  if (!s.ok()) return FromGrpcStatus(s);
  return last;
}

}  // namespace pruneserve::client
