// A small synchronous client for pruneserve.v1.PruningJobs: submit, get,
// cancel and list jobs, and follow one with a callback per event.
#ifndef PRUNESERVE_CLIENT_JOB_CLIENT_H_
#define PRUNESERVE_CLIENT_JOB_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pruneserve/v1/pruning_jobs.grpc.pb.h"

namespace pruneserve::client {

struct JobClientOptions {
  // Deadline of unary calls; WatchJob has none.
  absl::Duration rpc_timeout = absl::Seconds(30);
};

// Thread-safe (gRPC stubs are). Shares the channel.
class JobClient {
 public:
  explicit JobClient(std::shared_ptr<grpc::Channel> channel,
                     JobClientOptions options = {});

  // The server's status on failure (INVALID_ARGUMENT, NOT_FOUND,
  // RESOURCE_EXHAUSTED, ...). Each blocks for one round trip.
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec);
  absl::StatusOr<v1::Job> Get(const std::string& id);
  absl::StatusOr<v1::Job> Cancel(const std::string& id);
  absl::StatusOr<v1::ListJobsResponse> List(v1::JobState state, int page_size,
                                            const std::string& page_token);

  // Streams the job's events to `on_event` until the job is final (returns
  // the final job), the stream fails (its status) or `on_event` returns
  // false (returns the last job seen). Blocks.
  absl::StatusOr<v1::Job> Watch(
      const std::string& id,
      const std::function<bool(const v1::Job&)>& on_event);

 private:
  void SetDeadline(grpc::ClientContext* context) const;

  JobClientOptions options_;
  std::unique_ptr<v1::PruningJobs::Stub> stub_;
};

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_JOB_CLIENT_H_
