// The one conversion between absl::Status (core) and grpc::Status (wire).
#ifndef PRUNESERVE_SERVER_GRPC_STATUS_H_
#define PRUNESERVE_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace pruneserve {

// Same code (the numeric values agree) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_GRPC_STATUS_H_
