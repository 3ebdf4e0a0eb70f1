// Early-return helpers for absl::Status and absl::StatusOr<T>.
//
//   PS_RETURN_IF_ERROR(store.Put(x));
//   PS_ASSIGN_OR_RETURN(auto blob, store.Open(id));
#ifndef PRUNESERVE_CORE_UTIL_STATUS_MACROS_H_
#define PRUNESERVE_CORE_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PS_STATUS_CONCAT_INNER_(a, b) a##b
#define PS_STATUS_CONCAT_(a, b) PS_STATUS_CONCAT_INNER_(a, b)

#define PS_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status ps_status_ = (expr);      \
    if (!ps_status_.ok()) return ps_status_; \
  } while (0)

#define PS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)

#define PS_ASSIGN_OR_RETURN(lhs, expr)                                      \
  PS_ASSIGN_OR_RETURN_IMPL_(PS_STATUS_CONCAT_(ps_statusor_, __LINE__), lhs, \
                            expr)

#endif  // PRUNESERVE_CORE_UTIL_STATUS_MACROS_H_
