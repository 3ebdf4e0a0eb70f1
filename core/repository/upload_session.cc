// UploadSession: the streaming half of ModelRepository's upload protocol.
#include "absl/strings/str_cat.h"
#include "core/repository/model_repository.h"

namespace pruneserve {

UploadSession::UploadSession(ModelRepository* repo,
                             v1::UploadModelHeader header,
                             std::unique_ptr<BlobWriter> writer)
    : repo_(repo), header_(std::move(header)), writer_(std::move(writer)) {}

UploadSession::~UploadSession() {
  if (!done_) {
    writer_->Abort();
    repo_->RecordUpload(absl::CancelledError("upload abandoned"),
                        writer_->bytes_written());
  }
}

absl::Status UploadSession::Append(absl::string_view chunk) {
  if (done_) return absl::FailedPreconditionError("upload already finished");
  const int64_t limit = repo_->options_.max_model_bytes;
  if (writer_->bytes_written() + static_cast<int64_t>(chunk.size()) > limit) {
    done_ = true;
    writer_->Abort();
    absl::Status s = absl::ResourceExhaustedError(absl::StrCat(
        "model \"", header_.name(), "\" exceeds the size limit of ", limit,
        " bytes (received ", writer_->bytes_written() + chunk.size(),
        " so far)"));
    repo_->RecordUpload(s, writer_->bytes_written());
    return s;
  }
  absl::Status s = writer_->Append(chunk);
  if (!s.ok()) {
    done_ = true;
    writer_->Abort();
    repo_->RecordUpload(s, writer_->bytes_written());
  }
  return s;
}

absl::StatusOr<v1::ModelVersion> UploadSession::Commit() {
  if (done_) return absl::FailedPreconditionError("upload already finished");
  done_ = true;
  absl::StatusOr<v1::ModelVersion> result =
      repo_->Finish(*writer_, header_, v1::Lineage(), "",
                    repo_->options_.validation_slot_wait);
  if (!result.ok()) writer_->Abort();
  repo_->RecordUpload(result.status(), writer_->bytes_written());
  return result;
}

}  // namespace pruneserve
