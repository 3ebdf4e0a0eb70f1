// gRPC face of the data-set store (callback API): pruneserve.v1.Datasets
// translated into one ServerCore / DatasetStore call each. Store calls block
// (SQLite, files; an upload's commit extracts and validates the whole
// archive), so they run on the runtime's executor; the upload stream is a
// reactor that holds no thread while it waits for the client and is cut
// after the idle timeout. Roles and the audit line of the state-changing
// calls (upload, delete) come from the authorizer and rpc_roles.cc.
#ifndef PRUNESERVE_SERVER_DATASET_SERVICE_H_
#define PRUNESERVE_SERVER_DATASET_SERVICE_H_

#include <atomic>

#include "pruneserve/v1/datasets.grpc.pb.h"
#include "server/callback_rpc.h"
#include "server/server_core.h"

namespace pruneserve {

// Thread-safe; holds non-owning pointers to the core and the runtime, which
// must outlive it.
class DatasetService final : public v1::Datasets::CallbackService {
 public:
  DatasetService(ServerCore* core, const RpcRuntime* runtime)
      : core_(core), runtime_(runtime) {}

  // Refused with RESOURCE_EXHAUSTED (max_concurrent_uploads, counted apart
  // from model uploads) when that many data-set uploads are open; cut with
  // DEADLINE_EXCEEDED, its temp file removed, when no message arrives for
  // the idle timeout. Chunks are appended on gRPC's thread (one write
  // each); the commit runs on the executor once the client half-closes.
  grpc::ServerReadReactor<v1::UploadDatasetRequest>* UploadDataset(
      grpc::CallbackServerContext* context,
      v1::UploadDatasetResponse* response) override;
  grpc::ServerUnaryReactor* ListDatasets(
      grpc::CallbackServerContext* context,
      const v1::ListDatasetsRequest* request,
      v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* GetDataset(
      grpc::CallbackServerContext* context,
      const v1::GetDatasetRequest* request,
      v1::GetDatasetResponse* response) override;
  // FAILED_PRECONDITION while a queued or running job reads the files.
  grpc::ServerUnaryReactor* DeleteDataset(
      grpc::CallbackServerContext* context,
      const v1::DeleteDatasetRequest* request,
      v1::DeleteDatasetResponse* response) override;

 private:
  ServerCore* core_;
  const RpcRuntime* runtime_;
  std::atomic<int> open_uploads_{0};
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_DATASET_SERVICE_H_
