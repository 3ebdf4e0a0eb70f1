// A directory of per-epoch training checkpoints that survives crashes. Each
// checkpoint is one file "<prefix>-<epoch, 8 digits>.ckpt" written with
// WriteFileAtomically (temp file, fsync, rename, fsync directory) and framed
// with a magic string, the payload length and its SHA-256, so a reader can
// tell a whole checkpoint from a torn or corrupted one. After a crash or
// SIGKILL the newest *valid* checkpoint wins; damaged newer files and stray
// temp files are skipped. The payload is opaque bytes here (see
// training_checkpoint.h for what the trainer puts in it).
#ifndef PRUNESERVE_CORE_TRAINING_CHECKPOINT_STORE_H_
#define PRUNESERVE_CORE_TRAINING_CHECKPOINT_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve::training {

struct CheckpointStoreOptions {
  // Directory holding the checkpoints; created when missing. Required.
  std::string directory;
  // File-name prefix; lets several runs share a directory.
  std::string prefix = "ckpt";
  // How many newest checkpoints to keep after each write; older ones are
  // deleted. >= 2 so a damaged newest file always has a fallback; 0 keeps all.
  int keep_last = 2;
};

// One checkpoint read back from disk.
struct StoredCheckpoint {
  // Number of epochs completed when it was written (the name's number).
  int64_t epoch = 0;
  // Full path of the file.
  std::string path;
  // The payload exactly as written.
  std::string payload;
};

// Owns nothing but the directory path. Not thread-safe: one writer per
// directory/prefix; reading from other processes while it writes is safe
// because writes are atomic renames.
class CheckpointStore {
 public:
  // Creates the directory if needed. Returns INVALID_ARGUMENT for an empty
  // directory, a prefix containing '/' or keep_last == 1; an errno-mapped
  // status when the directory cannot be made.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Create(
      CheckpointStoreOptions options);

  // Durably writes the checkpoint for `epoch` (>= 0), replacing one with the
  // same epoch, then prunes old checkpoints per keep_last. Blocks on fsync.
  // Returns the file-system error on failure; the previous checkpoints are
  // untouched then.
  absl::Status Write(int64_t epoch, absl::string_view payload);

  // Returns the newest checkpoint whose framing and checksum verify, or
  // std::nullopt when there is none. Damaged files are skipped (their paths
  // are appended to `skipped` when non-null). Blocks on file reads. Returns
  // an error only when the directory cannot be listed.
  absl::StatusOr<std::optional<StoredCheckpoint>> ReadLatestValid(
      std::vector<std::string>* skipped = nullptr) const;

  // Epochs that have a checkpoint file (valid or not), ascending. Returns an
  // error when the directory cannot be listed.
  absl::StatusOr<std::vector<int64_t>> ListEpochs() const;

  // Path of the checkpoint file for `epoch`.
  std::string PathForEpoch(int64_t epoch) const;

  const CheckpointStoreOptions& options() const { return options_; }

 private:
  explicit CheckpointStore(CheckpointStoreOptions options);

  // Deletes all but the newest keep_last checkpoint files.
  absl::Status Prune() const;

  const CheckpointStoreOptions options_;
};

// Framing helpers, exposed for tests: EncodeCheckpointFrame wraps a payload,
// DecodeCheckpointFrame returns it or DATA_LOSS when the magic, length or
// checksum is wrong.
std::string EncodeCheckpointFrame(absl::string_view payload);
absl::StatusOr<std::string> DecodeCheckpointFrame(absl::string_view file);

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_CHECKPOINT_STORE_H_
