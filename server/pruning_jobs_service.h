// gRPC face of the JobManager (callback API): one manager call per RPC on
// the runtime's executor, and WatchJob as a stream pushed by the manager's
// change notifications (JobManager::Subscribe), so an idle watcher holds no
// thread.
#ifndef PRUNESERVE_SERVER_PRUNING_JOBS_SERVICE_H_
#define PRUNESERVE_SERVER_PRUNING_JOBS_SERVICE_H_

#include "pruneserve/v1/pruning_jobs.grpc.pb.h"
#include "server/callback_rpc.h"
#include "server/rpc_authorizer.h"
#include "server/server_core.h"

namespace pruneserve {

// Thread-safe; holds non-owning pointers to the core, the runtime and the
// authorizer, which must outlive it. A null authorizer means no
// authentication: jobs record no submitter and anyone may cancel.
class PruningJobsService final : public v1::PruningJobs::CallbackService {
 public:
  PruningJobsService(ServerCore* core, const RpcRuntime* runtime,
                     const RpcAuthorizer* authorizer = nullptr)
      : core_(core), runtime_(runtime), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const v1::SubmitJobRequest* request,
                                      v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request,
                                   v1::GetJobResponse* response) override;
  // Sends the job as it is, then the job after every change (a phase or
  // state change is always sent; progress within a phase is coalesced while
  // the client is slower than the job), and finishes OK after the final
  // state. The stream has no server-side deadline: it ends with the job, the
  // client, or the server (UNAVAILABLE).
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(
      grpc::CallbackServerContext* context,
      const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::CancelJobResponse* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;

 private:
  ServerCore* core_;
  const RpcRuntime* runtime_;
  const RpcAuthorizer* authorizer_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_PRUNING_JOBS_SERVICE_H_
