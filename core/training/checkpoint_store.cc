// Directory layout, framing and discovery of training checkpoints; see
// checkpoint_store.h.
#include "core/training/checkpoint_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/file_util.h"
#include "core/util/sha256.h"

namespace pruneserve::training {
namespace {

// Frame: magic (8 bytes) | payload length (16 hex digits) | '\n' |
// SHA-256 of the payload (64 hex digits) | '\n' | payload.
constexpr absl::string_view kMagic = "PSCKPT1\n";
constexpr size_t kLengthDigits = 16;
constexpr size_t kDigestDigits = 64;
constexpr size_t kHeaderSize =
    kMagic.size() + kLengthDigits + 1 + kDigestDigits + 1;
constexpr absl::string_view kSuffix = ".ckpt";

}  // namespace

std::string EncodeCheckpointFrame(absl::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  absl::StrAppend(
      &out, kMagic,
      absl::StrFormat("%016x", static_cast<uint64_t>(payload.size())), "\n",
      Sha256Hex(payload), "\n", payload);
  return out;
}

absl::StatusOr<std::string> DecodeCheckpointFrame(absl::string_view file) {
  if (file.size() < kHeaderSize || !absl::StartsWith(file, kMagic)) {
    return absl::DataLossError("checkpoint header missing or truncated");
  }
  absl::string_view length_hex = file.substr(kMagic.size(), kLengthDigits);
  uint64_t length = 0;
  if (!absl::SimpleHexAtoi(length_hex, &length) ||
      file[kMagic.size() + kLengthDigits] != '\n' ||
      file[kHeaderSize - 1] != '\n') {
    return absl::DataLossError("checkpoint header is malformed");
  }
  if (file.size() - kHeaderSize != length) {
    return absl::DataLossError(
        absl::StrFormat("checkpoint payload is %d bytes, header says %d",
                        file.size() - kHeaderSize, length));
  }
  absl::string_view digest =
      file.substr(kMagic.size() + kLengthDigits + 1, kDigestDigits);
  absl::string_view payload = file.substr(kHeaderSize);
  if (Sha256Hex(payload) != digest) {
    return absl::DataLossError("checkpoint checksum mismatch");
  }
  return std::string(payload);
}

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Create(
    CheckpointStoreOptions options) {
  if (options.directory.empty()) {
    return absl::InvalidArgumentError("checkpoint directory is empty");
  }
  if (options.prefix.empty() || absl::StrContains(options.prefix, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad checkpoint prefix '", options.prefix, "'"));
  }
  if (options.keep_last == 1 || options.keep_last < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_last must be 0 or >= 2, got ", options.keep_last));
  }
  absl::Status made = MakeDirectories(options.directory);
  if (!made.ok()) return made;
  return std::unique_ptr<CheckpointStore>(
      new CheckpointStore(std::move(options)));
}

CheckpointStore::CheckpointStore(CheckpointStoreOptions options)
    : options_(std::move(options)) {}

std::string CheckpointStore::PathForEpoch(int64_t epoch) const {
  return absl::StrFormat("%s/%s-%08d%s", options_.directory, options_.prefix,
                         epoch, kSuffix);
}

absl::Status CheckpointStore::Write(int64_t epoch, absl::string_view payload) {
  if (epoch < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint epoch must be >= 0, got ", epoch));
  }
  absl::Status written =
      WriteFileAtomically(PathForEpoch(epoch), EncodeCheckpointFrame(payload));
  if (!written.ok()) return written;
  return Prune();
}

absl::StatusOr<std::vector<int64_t>> CheckpointStore::ListEpochs() const {
  std::vector<int64_t> epochs;
  std::error_code ec;
  std::filesystem::directory_iterator it(options_.directory, ec);
  if (ec) {
    return ErrnoToStatus(ec.value(), absl::StrCat("list ", options_.directory));
  }
  const std::string head = options_.prefix + "-";
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    // Temp files from an interrupted write end in ".tmp.<pid>" and fail the
    // suffix test, so they are never mistaken for checkpoints.
    if (!absl::StartsWith(name, head) || !absl::EndsWith(name, kSuffix)) {
      continue;
    }
    absl::string_view digits = name;
    digits.remove_prefix(head.size());
    digits.remove_suffix(kSuffix.size());
    int64_t epoch = 0;
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(digits, &epoch)) {
      continue;
    }
    epochs.push_back(epoch);
  }
  std::sort(epochs.begin(), epochs.end());
  return epochs;
}

absl::StatusOr<std::optional<StoredCheckpoint>>
CheckpointStore::ReadLatestValid(std::vector<std::string>* skipped) const {
  absl::StatusOr<std::vector<int64_t>> epochs = ListEpochs();
  if (!epochs.ok()) return epochs.status();
  for (auto it = epochs->rbegin(); it != epochs->rend(); ++it) {
    const std::string path = PathForEpoch(*it);
    absl::StatusOr<std::string> file = ReadFileToString(path);
    absl::StatusOr<std::string> payload =
        file.ok() ? DecodeCheckpointFrame(*file)
                  : absl::StatusOr<std::string>(file.status());
    if (!payload.ok()) {
      if (skipped != nullptr) skipped->push_back(path);
      continue;
    }
    return StoredCheckpoint{*it, path, *std::move(payload)};
  }
  return std::optional<StoredCheckpoint>();
}

absl::Status CheckpointStore::Prune() const {
  if (options_.keep_last == 0) return absl::OkStatus();
  absl::StatusOr<std::vector<int64_t>> epochs = ListEpochs();
  if (!epochs.ok()) return epochs.status();
  const size_t keep = static_cast<size_t>(options_.keep_last);
  if (epochs->size() <= keep) return absl::OkStatus();
  for (size_t i = 0; i + keep < epochs->size(); ++i) {
    const std::string path = PathForEpoch((*epochs)[i]);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoToStatus(errno, absl::StrCat("unlink ", path));
    }
  }
  return absl::OkStatus();
}

}  // namespace pruneserve::training
