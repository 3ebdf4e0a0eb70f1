#include "core/repository/version_record_store.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/repository/model_name.h"
#include "core/util/file_util.h"
#include "core/util/sha256.h"

namespace pruneserve {
namespace fs = std::filesystem;
namespace {

constexpr char kSuffix[] = ".pb";

}  // namespace

absl::StatusOr<std::unique_ptr<VersionRecordStore>> VersionRecordStore::Create(
    VersionRecordStoreOptions options) {
  if (options.root.empty()) {
    return absl::InvalidArgumentError("version record root is empty");
  }
  absl::Status made = MakeDirectoriesDurably(options.root);
  if (!made.ok()) return made;
  return std::unique_ptr<VersionRecordStore>(
      new VersionRecordStore(std::move(options)));
}

std::string VersionRecordStore::PathFor(const std::string& name,
                                        int64_t version) const {
  return absl::StrCat(options_.root, "/", name, "/", version, kSuffix);
}

absl::Status VersionRecordStore::Write(const v1::ModelVersion& model) {
  absl::Status valid = ValidateModelName(model.name());
  if (!valid.ok()) return valid;
  if (model.version() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record of ", model.name(), " has version ", model.version()));
  }
  v1::ModelVersion record = model;
  record.clear_corrupt();
  const std::string path = PathFor(model.name(), model.version());
  absl::Status made =
      MakeDirectoriesDurably(fs::path(path).parent_path().string());
  if (!made.ok()) return made;
  return WriteFileAtomically(path, record.SerializeAsString());
}

absl::Status VersionRecordStore::Remove(const std::string& name,
                                        int64_t version) {
  const std::string path = PathFor(name, version);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus(errno, "unlink " + path);
  }
  return FsyncDirectory(fs::path(path).parent_path().string());
}

VersionRecordListing VersionRecordStore::List() const {
  VersionRecordListing listing;
  std::error_code ec;
  for (const auto& name_dir : fs::directory_iterator(options_.root, ec)) {
    if (!name_dir.is_directory(ec)) continue;
    std::error_code inner;
    for (const auto& entry : fs::directory_iterator(name_dir.path(), inner)) {
      const std::string path = entry.path().string();
      const std::string file = entry.path().filename().string();
      // Leftovers of a write interrupted before its rename.
      if (absl::StrContains(file, ".tmp.")) continue;
      int64_t version = 0;
      v1::ModelVersion record;
      absl::StatusOr<std::string> bytes = ReadFileToString(path);
      const bool ok =
          absl::EndsWith(file, kSuffix) &&
          absl::SimpleAtoi(file.substr(0, file.size() - strlen(kSuffix)),
                           &version) &&
          bytes.ok() && record.ParseFromString(*bytes) &&
          record.name() == name_dir.path().filename().string() &&
          record.version() == version && version > 0 &&
          IsSha256Hex(record.sha256());
      if (ok) {
        listing.records.push_back(std::move(record));
      } else {
        listing.unreadable.push_back(path);
      }
    }
  }
  return listing;
}

}  // namespace pruneserve
