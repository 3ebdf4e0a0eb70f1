#include "server/rpc_roles.h"

#include <map>
#include <set>
#include <string>

#include "google/protobuf/descriptor.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "pruneserve/v1/datasets.grpc.pb.h"
#include "pruneserve/v1/model_repository.grpc.pb.h"
#include "pruneserve/v1/pruning_jobs.grpc.pb.h"

namespace pruneserve {
namespace {

using auth::Role;

// Every method of every service the server registers, from the compiled
// protos.
std::set<std::string> ServedMethods() {
  std::set<std::string> methods;
  // One message of each service's file pulls its descriptors in.
  for (const google::protobuf::FileDescriptor* file :
       {v1::UploadModelRequest::descriptor()->file(),
        v1::SubmitJobRequest::descriptor()->file(),
        v1::UploadDatasetRequest::descriptor()->file(),
        ::inference::ModelInferRequest::descriptor()->file(),
        grpc::health::v1::HealthCheckRequest::descriptor()->file()}) {
    EXPECT_EQ(file->service_count(), 1) << file->name();
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* d = file->service(s);
      for (int i = 0; i < d->method_count(); ++i) {
        methods.insert("/" + d->full_name() + "/" + d->method(i)->name());
      }
    }
  }
  return methods;
}

TEST(RpcRolesTest, EveryServedMethodHasExactlyOneRule) {
  const std::set<std::string> served = ServedMethods();
  EXPECT_EQ(served.size(), 26u);
  for (const std::string& m : served) {
    EXPECT_NE(FindRpcRule(m), nullptr) << m << " is missing from the table";
  }
  std::set<std::string> seen;
  for (const RpcRule& rule : RpcRules()) {
    EXPECT_TRUE(seen.insert(std::string(rule.method)).second) << rule.method;
    // Nothing in the table that the server does not serve, except
    // reflection (registered with --reflection only).
    if (rule.method !=
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") {
      EXPECT_EQ(served.count(std::string(rule.method)), 1u) << rule.method;
    }
  }
  EXPECT_EQ(FindRpcRule("/pruneserve.v1.ModelRepository/Nope"), nullptr);
  EXPECT_EQ(FindRpcRule(""), nullptr);
}

TEST(RpcRolesTest, RolesMatchTheSecurityModel) {
  constexpr auto kOpen = std::nullopt;
  const std::map<std::string, std::optional<Role>> expected = {
      {"/grpc.health.v1.Health/Check", kOpen},
      {"/grpc.health.v1.Health/Watch", kOpen},
      {"/inference.GRPCInferenceService/ServerLive", kOpen},
      {"/inference.GRPCInferenceService/ServerReady", Role::kInfer},
      {"/inference.GRPCInferenceService/ModelReady", Role::kInfer},
      {"/inference.GRPCInferenceService/ServerMetadata", Role::kInfer},
      {"/inference.GRPCInferenceService/ModelMetadata", Role::kInfer},
      {"/inference.GRPCInferenceService/ModelInfer", Role::kInfer},
      {"/inference.GRPCInferenceService/RepositoryIndex", Role::kRead},
      {"/inference.GRPCInferenceService/RepositoryModelLoad", Role::kAdmin},
      {"/inference.GRPCInferenceService/RepositoryModelUnload", Role::kAdmin},
      {"/pruneserve.v1.ModelRepository/UploadModel", Role::kAdmin},
      {"/pruneserve.v1.ModelRepository/ListModels", Role::kRead},
      {"/pruneserve.v1.ModelRepository/GetModel", Role::kRead},
      {"/pruneserve.v1.ModelRepository/DownloadModel", Role::kRead},
      {"/pruneserve.v1.ModelRepository/DeleteModel", Role::kAdmin},
      {"/pruneserve.v1.ModelRepository/VerifyModels", Role::kAdmin},
      {"/pruneserve.v1.PruningJobs/SubmitJob", Role::kAdmin},
      {"/pruneserve.v1.PruningJobs/GetJob", Role::kRead},
      {"/pruneserve.v1.PruningJobs/WatchJob", Role::kRead},
      {"/pruneserve.v1.PruningJobs/CancelJob", Role::kRead},
      {"/pruneserve.v1.PruningJobs/ListJobs", Role::kRead},
      {"/pruneserve.v1.Datasets/UploadDataset", Role::kAdmin},
      {"/pruneserve.v1.Datasets/ListDatasets", Role::kRead},
      {"/pruneserve.v1.Datasets/GetDataset", Role::kRead},
      {"/pruneserve.v1.Datasets/DeleteDataset", Role::kAdmin},
  };
  for (const auto& [method, role] : expected) {
    const RpcRule* rule = FindRpcRule(method);
    ASSERT_NE(rule, nullptr) << method;
    EXPECT_EQ(rule->role, role) << method;
  }
  std::set<std::string> destructive, owner_checked;
  for (const RpcRule& rule : RpcRules()) {
    if (rule.destructive) destructive.insert(std::string(rule.method));
    if (rule.submitter_or_admin) owner_checked.insert(std::string(rule.method));
  }
  EXPECT_EQ(destructive,
            (std::set<std::string>{
                "/inference.GRPCInferenceService/RepositoryModelLoad",
                "/inference.GRPCInferenceService/RepositoryModelUnload",
                "/pruneserve.v1.Datasets/UploadDataset",
                "/pruneserve.v1.Datasets/DeleteDataset",
                "/pruneserve.v1.ModelRepository/VerifyModels",
                "/pruneserve.v1.ModelRepository/UploadModel",
                "/pruneserve.v1.ModelRepository/DeleteModel",
                "/pruneserve.v1.PruningJobs/SubmitJob",
                "/pruneserve.v1.PruningJobs/CancelJob"}));
  EXPECT_EQ(owner_checked,
            (std::set<std::string>{"/pruneserve.v1.PruningJobs/CancelJob"}));
}

}  // namespace
}  // namespace pruneserve
