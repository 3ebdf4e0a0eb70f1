#include "server/dataset_service.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "core/util/limit_status.h"
#include "server/grpc_status.h"
#include "server/upload_reactor.h"

namespace pruneserve {
namespace {

struct DatasetUploadTarget {
  using Request = v1::UploadDatasetRequest;
  using Response = v1::UploadDatasetResponse;
  using Session = datasets::DatasetUpload;
  static constexpr const char* kUploads = "data-set uploads";
  static constexpr const char* kHeaderName = "UploadDatasetHeader";
  static absl::StatusOr<std::unique_ptr<Session>> Begin(
      ServerCore& core, const v1::UploadDatasetHeader& header) {
    return core.datasets().BeginUpload(header);
  }
  static void Store(v1::Dataset dataset, Response* response) {
    *response->mutable_dataset() = std::move(dataset);
  }
};

}  // namespace

grpc::ServerReadReactor<v1::UploadDatasetRequest>*
DatasetService::UploadDataset(grpc::CallbackServerContext* context,
                              v1::UploadDatasetResponse* response) {
  return new UploadReactor<DatasetUploadTarget>(context, core_, *runtime_,
                                                &open_uploads_, response);
}

grpc::ServerUnaryReactor* DatasetService::ListDatasets(
    grpc::CallbackServerContext* context,
    const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_,
       name = request->name()]() -> absl::StatusOr<v1::ListDatasetsResponse> {
        auto list = core->datasets().List(name);
        if (!list.ok()) return list.status();
        v1::ListDatasetsResponse r;
        for (auto& d : *list) *r.add_datasets() = std::move(d);
        return r;
      });
}

grpc::ServerUnaryReactor* DatasetService::GetDataset(
    grpc::CallbackServerContext* context, const v1::GetDatasetRequest* request,
    v1::GetDatasetResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, name = request->name(), version = request->version()]()
          -> absl::StatusOr<v1::GetDatasetResponse> {
        auto dataset = core->datasets().Get(name, version);
        if (!dataset.ok()) return dataset.status();
        v1::GetDatasetResponse r;
        *r.mutable_dataset() = *std::move(dataset);
        return r;
      });
}

grpc::ServerUnaryReactor* DatasetService::DeleteDataset(
    grpc::CallbackServerContext* context,
    const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, name = request->name(), version = request->version()]()
          -> absl::StatusOr<v1::DeleteDatasetResponse> {
        auto deleted = core->DeleteDataset(name, version);
        if (!deleted.ok()) return deleted.status();
        v1::DeleteDatasetResponse r;
        r.set_deleted_versions(*deleted);
        return r;
      });
}

}  // namespace pruneserve
