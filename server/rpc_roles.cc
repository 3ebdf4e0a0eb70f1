#include "server/rpc_roles.h"

namespace pruneserve {
namespace {

using auth::Role;
constexpr std::optional<Role> kOpen = std::nullopt;

// clang-format off
constexpr RpcRule kRules[] = {
  // Liveness probes must work without credentials.
  {"/grpc.health.v1.Health/Check",                          kOpen},
  {"/grpc.health.v1.Health/Watch",                          kOpen},
  {"/inference.GRPCInferenceService/ServerLive",            kOpen},
  // KServe inference, metadata and readiness.
  {"/inference.GRPCInferenceService/ServerReady",           Role::kInfer},
  {"/inference.GRPCInferenceService/ModelReady",            Role::kInfer},
  {"/inference.GRPCInferenceService/ServerMetadata",        Role::kInfer},
  {"/inference.GRPCInferenceService/ModelMetadata",         Role::kInfer},
  {"/inference.GRPCInferenceService/ModelInfer",            Role::kInfer},
  {"/inference.GRPCInferenceService/RepositoryIndex",       Role::kRead},
  {"/inference.GRPCInferenceService/RepositoryModelLoad",   Role::kAdmin, true},
  {"/inference.GRPCInferenceService/RepositoryModelUnload", Role::kAdmin, true},
  // Model repository.
  {"/pruneserve.v1.ModelRepository/UploadModel",            Role::kAdmin, true},
  {"/pruneserve.v1.ModelRepository/ListModels",             Role::kRead},
  {"/pruneserve.v1.ModelRepository/GetModel",               Role::kRead},
  {"/pruneserve.v1.ModelRepository/DownloadModel",          Role::kRead},
  {"/pruneserve.v1.ModelRepository/DeleteModel",            Role::kAdmin, true},
  // Reads every selected blob whole and writes corrupt marks.
  {"/pruneserve.v1.ModelRepository/VerifyModels",           Role::kAdmin, true},
  // Pruning jobs. read callers see every job; cancelling also needs to be
  // the submitter or an admin.
  {"/pruneserve.v1.PruningJobs/SubmitJob",                  Role::kAdmin, true},
  {"/pruneserve.v1.PruningJobs/GetJob",                     Role::kRead},
  {"/pruneserve.v1.PruningJobs/WatchJob",                   Role::kRead},
  {"/pruneserve.v1.PruningJobs/CancelJob",                  Role::kRead, true, true},
  {"/pruneserve.v1.PruningJobs/ListJobs",                   Role::kRead},
  // Data sets: uploading and deleting change state, listing reads.
  {"/pruneserve.v1.Datasets/UploadDataset",                 Role::kAdmin, true},
  {"/pruneserve.v1.Datasets/ListDatasets",                  Role::kRead},
  {"/pruneserve.v1.Datasets/GetDataset",                    Role::kRead},
  {"/pruneserve.v1.Datasets/DeleteDataset",                 Role::kAdmin, true},
  // Registered only with --reflection: the schema, no data.
  {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                                            Role::kInfer},
};
// clang-format on

}  // namespace

absl::Span<const RpcRule> RpcRules() { return kRules; }

const RpcRule* FindRpcRule(absl::string_view method) {
  for (const RpcRule& rule : kRules) {
    if (rule.method == method) return &rule;
  }
  return nullptr;
}

}  // namespace pruneserve
