// What the soak and crash benchmarks ask of a server, in one place: the
// small Fashion-MNIST pruning job they submit, the header of the 1x28x28
// TorchScript models they upload, and the flags that size both.
#ifndef PRUNESERVE_BENCH_BENCH_WORKLOAD_H_
#define PRUNESERVE_BENCH_BENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "pruneserve/v1/model_repository.pb.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::bench {

// The input every bench model takes.
inline const std::vector<int64_t> kImageShape = {1, 1, 28, 28};

struct WorkloadOptions {
  // TorchScript files uploaded in turn, and the model the jobs prune.
  std::vector<std::string> upload_models;
  std::string job_model;
  // Fashion-MNIST directory (IDX files) and the size of each job.
  std::string dataset = "/usr/share/datasets/fashion-mnist";
  int job_train_limit = 400;
  int job_epochs = 3;
};

// Registers --upload, --job_model, --dataset, --job_train_limit and
// --job_epochs on `app`, writing into `options`.
void AddWorkloadFlags(CLI::App& app, WorkloadOptions& options);

// Uniform L1 pruning of `model_name`:`model_version` (0 = latest), then
// fine-tuning on the first `job_train_limit` training images; top-1 on 200
// test images. The result is a new version of the same model.
v1::JobSpec PruningJob(const WorkloadOptions& options,
                       const std::string& model_name, int64_t model_version);

// A TorchScript upload named `name` with kImageShape as its example input;
// `sha256` (optional) is checked by the server.
v1::UploadModelHeader TorchScriptHeader(const std::string& name,
                                        const std::string& sha256 = "");

// The whole file; empty when it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace pruneserve::bench

#endif  // PRUNESERVE_BENCH_BENCH_WORKLOAD_H_
