#include "server/pruning_jobs_service.h"

#include "absl/time/time.h"
#include "server/grpc_status.h"

namespace pruneserve {
namespace {

// How long one Watch call waits before the stream checks whether the
// client is still there.
constexpr absl::Duration kWatchPoll = absl::Milliseconds(500);
// Events are coalesced: at most one every this often (progress arrives once
// per training step).
constexpr absl::Duration kMinEventInterval = absl::Milliseconds(100);

}  // namespace

grpc::Status PruningJobsService::SubmitJob(grpc::ServerContext* context,
                                           const v1::SubmitJobRequest* request,
                                           v1::SubmitJobResponse* response) {
  std::string submitter;
  if (authorizer_ != nullptr) {
    if (auto caller = authorizer_->CallerOf(*context)) submitter = caller->name;
  }
  auto job = core_->jobs().Submit(request->spec(), submitter);
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status PruningJobsService::GetJob(grpc::ServerContext*,
                                        const v1::GetJobRequest* request,
                                        v1::GetJobResponse* response) {
  auto job = core_->jobs().Get(request->id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status PruningJobsService::WatchJob(
    grpc::ServerContext* context, const v1::WatchJobRequest* request,
    grpc::ServerWriter<v1::JobEvent>* writer) {
  int64_t revision = -1;
  while (!context->IsCancelled()) {
    auto snapshot = core_->jobs().Watch(request->id(), revision, kWatchPoll);
    if (!snapshot.ok()) return ToGrpcStatus(snapshot.status());
    if (snapshot->revision == revision && !snapshot->final) continue;
    revision = snapshot->revision;
    v1::JobEvent event;
    *event.mutable_job() = std::move(snapshot->job);
    if (!writer->Write(event)) break;
    if (snapshot->final) return grpc::Status::OK;
    absl::SleepFor(kMinEventInterval);
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
}

grpc::Status PruningJobsService::CancelJob(grpc::ServerContext* context,
                                           const v1::CancelJobRequest* request,
                                           v1::CancelJobResponse* response) {
  if (authorizer_ != nullptr) {
    auto target = core_->jobs().Get(request->id());
    if (!target.ok()) return ToGrpcStatus(target.status());
    grpc::Status allowed = authorizer_->CheckJobOwner(
        *context, "/pruneserve.v1.PruningJobs/CancelJob",
        target->submitted_by());
    if (!allowed.ok()) return allowed;
  }
  auto job = core_->jobs().Cancel(request->id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status PruningJobsService::ListJobs(grpc::ServerContext*,
                                          const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  const int page_size = request->page_size() == 0 ? 100 : request->page_size();
  auto page =
      core_->jobs().List(request->state(), page_size, request->page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (v1::Job& job : page->jobs) *response->add_jobs() = std::move(job);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

}  // namespace pruneserve
