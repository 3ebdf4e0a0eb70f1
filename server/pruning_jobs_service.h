// gRPC face of the JobManager: one manager call per RPC, plus the polling
// loop that turns JobManager::Watch into a server stream.
#ifndef PRUNESERVE_SERVER_PRUNING_JOBS_SERVICE_H_
#define PRUNESERVE_SERVER_PRUNING_JOBS_SERVICE_H_

#include "pruneserve/v1/pruning_jobs.grpc.pb.h"
#include "server/rpc_authorizer.h"
#include "server/server_core.h"

namespace pruneserve {

// Thread-safe; holds non-owning pointers to the core and the authorizer,
// which must outlive it. A null authorizer means no authentication: jobs
// record no submitter and anyone may cancel.
class PruningJobsService final : public v1::PruningJobs::Service {
 public:
  explicit PruningJobsService(ServerCore* core,
                              const RpcAuthorizer* authorizer = nullptr)
      : core_(core), authorizer_(authorizer) {}

  grpc::Status SubmitJob(grpc::ServerContext* context,
                         const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context,
                      const v1::GetJobRequest* request,
                      v1::GetJobResponse* response) override;
  // Streams until the job is final, the client goes away or the server
  // stops; each event is the whole job.
  grpc::Status WatchJob(grpc::ServerContext* context,
                        const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext* context,
                         const v1::CancelJobRequest* request,
                         v1::CancelJobResponse* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context,
                        const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;

 private:
  ServerCore* core_;
  const RpcAuthorizer* authorizer_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_PRUNING_JOBS_SERVICE_H_
