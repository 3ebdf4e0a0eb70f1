// A small synchronous client for pruneserve.v1.Datasets. Uploads stream: a
// local data-set directory is packed into a tar archive by libarchive while
// it is sent (nothing is staged on disk), and a ready archive file is sent
// in chunks.
#ifndef PRUNESERVE_CLIENT_DATASET_CLIENT_H_
#define PRUNESERVE_CLIENT_DATASET_CLIENT_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pruneserve/v1/datasets.grpc.pb.h"

namespace pruneserve::client {

// What a local directory holds, judged by its file names: IDX files
// (*-idx3-ubyte[.gz] → FASHION_MNIST; pass MNIST explicitly for MNIST),
// CIFAR-10 batches (data_batch_N.bin, test_batch.bin), CIFAR-100
// (train.bin, test.bin) or else, with sub-directories, an ImageFolder.
// INVALID_ARGUMENT when none fits. Blocks on one directory listing.
absl::StatusOr<v1::DatasetFormat> DetectDatasetFormat(const std::string& dir);

// Parses "mnist", "fashion-mnist", "cifar10", "cifar100", "imagefolder".
absl::StatusOr<v1::DatasetFormat> ParseDatasetFormat(const std::string& name);

struct DatasetClientOptions {
  // Bytes per upload message.
  size_t chunk_bytes = 1 << 20;
  // Deadline of unary calls; uploads have none.
  absl::Duration rpc_timeout = absl::Seconds(30);
};

// Thread-safe (gRPC stubs are). Shares the channel.
class DatasetClient {
 public:
  explicit DatasetClient(std::shared_ptr<grpc::Channel> channel,
                         DatasetClientOptions options = {});

  // Uploads `path`: a directory is packed on the fly with the files the
  // format uses (IDX and CIFAR files at its top level; for ImageFolder
  // every image under it, other files skipped); a regular file is sent as
  // a ready tar archive. `progress` (optional) gets the bytes sent so far.
  // Returns the stored data set or the server's error; NOT_FOUND or
  // INVALID_ARGUMENT for a local path that cannot be read. Blocks until the
  // server answered.
  absl::StatusOr<v1::Dataset> Upload(
      const v1::UploadDatasetHeader& header, const std::string& path,
      const std::function<void(int64_t sent)>& progress = {});
  // Sends `archive` bytes as they are (tests: hostile archives).
  absl::StatusOr<v1::Dataset> UploadArchiveBytes(
      const v1::UploadDatasetHeader& header, const std::string& archive);

  absl::StatusOr<std::vector<v1::Dataset>> List(const std::string& name);
  absl::StatusOr<v1::Dataset> Get(const std::string& name, int64_t version);
  absl::StatusOr<int64_t> Delete(const std::string& name, int64_t version);

 private:
  void SetDeadline(grpc::ClientContext* context) const;

  DatasetClientOptions options_;
  std::unique_ptr<v1::Datasets::Stub> stub_;
};

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_DATASET_CLIENT_H_
