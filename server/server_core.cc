#include "server/server_core.h"

#include "core/torchscript/torchscript_inspector.h"
#include "core/util/status_macros.h"

namespace pruneserve {

ServerCore::ServerCore(ServerCoreOptions options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      process_metrics_(std::make_shared<ProcessMetricsCollector>()) {}

absl::StatusOr<std::unique_ptr<ServerCore>> ServerCore::Create(
    ServerCoreOptions options) {
  auto core = std::unique_ptr<ServerCore>(new ServerCore(std::move(options)));
  core->repository_metrics_ =
      std::make_unique<RepositoryMetrics>(*core->registry_);
  ModelRepository::InspectorMap inspectors;
  inspectors[v1::MODEL_FORMAT_TORCHSCRIPT] =
      std::make_unique<TorchScriptInspector>();
  ModelRepositoryOptions repo_options;
  repo_options.data_dir = core->options_.data_dir;
  repo_options.max_model_bytes = core->options_.max_model_bytes;
  PS_ASSIGN_OR_RETURN(
      core->repository_,
      ModelRepository::Create(repo_options, std::move(inspectors),
                              core->repository_metrics_.get()));
  core->inference_metrics_ =
      std::make_unique<InferenceMetrics>(*core->registry_);
  core->models_ = std::make_unique<inference::ModelManager>(
      core->repository_.get(), core->inference_metrics_.get(),
      core->options_.inference);
  return core;
}

}  // namespace pruneserve
