#include "bench/bench_workload.h"

#include <fstream>
#include <sstream>

namespace pruneserve::bench {

void AddWorkloadFlags(CLI::App& app, WorkloadOptions& options) {
  app.add_option("--upload", options.upload_models, "Files uploaded in turn")
      ->required()
      ->delimiter(',');
  app.add_option("--job_model", options.job_model, "TorchScript file to prune")
      ->required();
  app.add_option("--dataset", options.dataset, "Fashion-MNIST directory")
      ->capture_default_str();
  app.add_option("--job_train_limit", options.job_train_limit,
                 "Training images of each job")
      ->capture_default_str();
  app.add_option("--job_epochs", options.job_epochs,
                 "Fine-tuning epochs per job")
      ->capture_default_str();
}

v1::JobSpec PruningJob(const WorkloadOptions& options,
                       const std::string& model_name, int64_t model_version) {
  v1::JobSpec spec;
  spec.set_model_name(model_name);
  spec.set_model_version(model_version);
  const std::string data = "fashion-mnist:" + options.dataset;
  spec.mutable_data()->set_train(data + ":train");
  spec.mutable_data()->set_eval(data + ":test");
  spec.mutable_data()->set_train_limit(options.job_train_limit);
  spec.mutable_data()->set_eval_limit(200);
  spec.mutable_data()->set_calibration_images(64);
  spec.mutable_pruning()->set_policy("uniform");
  spec.mutable_pruning()->set_criterion("l1");
  spec.mutable_finetune()->set_epochs(options.job_epochs);
  return spec;
}

v1::UploadModelHeader TorchScriptHeader(const std::string& name,
                                        const std::string& sha256) {
  v1::UploadModelHeader header;
  header.set_name(name);
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  header.set_expected_sha256(sha256);
  for (int64_t d : kImageShape) header.add_example_input_shape(d);
  return header;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace pruneserve::bench
