#include "core/repository/model_repository.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/repository/model_name.h"
#include "core/util/file_util.h"
#include "core/util/limit_status.h"
#include "core/util/status_macros.h"

namespace pruneserve {
namespace {

constexpr int kMaxShapeRank = 8;

}  // namespace

ModelRepository::ModelRepository(ModelRepositoryOptions options,
                                 InspectorMap inspectors,
                                 RepositoryMetrics* metrics)
    : options_(std::move(options)),
      inspectors_(std::move(inspectors)),
      metrics_(metrics) {}

ModelRepository::~ModelRepository() = default;

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(
    ModelRepositoryOptions options, InspectorMap inspectors,
    RepositoryMetrics* metrics) {
  if (options.max_model_bytes <= 0) {
    return absl::InvalidArgumentError("max_model_bytes must be positive");
  }
  if (options.max_concurrent_validations < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_concurrent_validations is ", options.max_concurrent_validations,
        "; at least one check must be able to run"));
  }
  auto repo = std::unique_ptr<ModelRepository>(
      new ModelRepository(std::move(options), std::move(inspectors), metrics));
  // Before anything under the directory is touched: start-up wipes tmp/ and
  // collects blobs, which must never race another server's uploads.
  PS_ASSIGN_OR_RETURN(repo->lock_,
                      DataDirLock::Acquire(repo->options_.data_dir));
  const std::string& dir = repo->options_.data_dir;
  PS_ASSIGN_OR_RETURN(repo->blobs_, BlobStore::Create({dir}));
  PS_ASSIGN_OR_RETURN(repo->records_,
                      VersionRecordStore::Create({dir + "/records"}));
  // Garbage collection removes every blob the index does not list, so with
  // blobs on disk the index must be the one that lists them: a missing,
  // foreign or schema-less models.db stops the start instead of being
  // created empty.
  const std::vector<std::string> stored = repo->blobs_->List();
  ModelMetadataStoreOptions metadata_options;
  metadata_options.path = dir + "/models.db";
  metadata_options.must_exist = !stored.empty();
  auto metadata = ModelMetadataStore::Create(metadata_options);
  if (!metadata.ok()) {
    if (stored.empty()) return metadata.status();
    return absl::FailedPreconditionError(absl::StrCat(
        metadata.status().message(), ", but ", dir, "/blobs holds ",
        stored.size(),
        " stored model blob(s). Refusing to start, since start-up removes "
        "every blob the index does not list. Restore models.db from a "
        "backup, or run `pruneserve --data_dir=",
        dir,
        " --rebuild_index` to re-create the index from the version records "
        "in ",
        dir, "/records and move blobs no record names to ", dir,
        "/lost+found/ (nothing is deleted)."));
  }
  repo->metadata_ = *std::move(metadata);
  PS_RETURN_IF_ERROR(repo->CollectGarbage());
  repo->RefreshTotals();
  return repo;
}

absl::StatusOr<RebuildIndexSummary> ModelRepository::RebuildIndex(
    const std::string& data_dir) {
  PS_ASSIGN_OR_RETURN(std::unique_ptr<DataDirLock> lock,
                      DataDirLock::Acquire(data_dir));
  PS_ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> blobs,
                      BlobStore::Create({data_dir}));
  PS_ASSIGN_OR_RETURN(std::unique_ptr<VersionRecordStore> records,
                      VersionRecordStore::Create({data_dir + "/records"}));
  RebuildIndexSummary summary;
  const std::string db_path = data_dir + "/models.db";
  // Moves models.db and its journal files aside; SQLite would otherwise
  // replay a stray -wal of a lost database into the new one.
  auto move_aside = [&]() -> absl::Status {
    const std::string aside =
        absl::StrCat(db_path, ".damaged.", absl::ToUnixSeconds(absl::Now()));
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string from = db_path + suffix;
      std::error_code ec;
      if (!std::filesystem::exists(from, ec)) continue;
      if (::rename(from.c_str(), (aside + suffix).c_str()) != 0) {
        return ErrnoToStatus(errno, absl::StrCat("rename ", from));
      }
      summary.damaged_index_moved_to = aside;
    }
    return FsyncDirectory(data_dir);
  };
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) {
    PS_RETURN_IF_ERROR(move_aside());
  }
  auto metadata = ModelMetadataStore::Create({db_path});
  if (!metadata.ok()) {
    PS_RETURN_IF_ERROR(move_aside());
    metadata = ModelMetadataStore::Create({db_path});
    if (!metadata.ok()) return metadata.status();
  }
  ModelMetadataStore& index = **metadata;

  VersionRecordListing listing = records->List();
  summary.unreadable_records = static_cast<int>(listing.unreadable.size());
  for (const std::string& path : listing.unreadable) {
    fprintf(stderr, "pruneserve: --rebuild_index: unreadable record %s\n",
            path.c_str());
  }
  std::sort(listing.records.begin(), listing.records.end(),
            [](const v1::ModelVersion& a, const v1::ModelVersion& b) {
              if (a.name() != b.name()) return a.name() < b.name();
              return a.version() < b.version();
            });
  for (const v1::ModelVersion& record : listing.records) {
    if (!blobs->Contains(record.sha256())) {
      ++summary.records_skipped;
      continue;
    }
    absl::Status restored = index.RestoreVersion(record);
    if (absl::IsAlreadyExists(restored)) {
      ++summary.records_skipped;
      continue;
    }
    PS_RETURN_IF_ERROR(restored);
    ++summary.restored_versions;
  }

  PS_ASSIGN_OR_RETURN(std::vector<std::string> referenced,
                      index.ReferencedBlobs());
  const std::set<std::string> keep(referenced.begin(), referenced.end());
  const std::string lost = data_dir + "/lost+found";
  PS_RETURN_IF_ERROR(MakeDirectories(lost));
  std::set<std::string> touched_dirs;
  for (const std::string& sha : blobs->List()) {
    if (keep.count(sha)) continue;
    const std::string from = blobs->PathFor(sha);
    const std::string to = absl::StrCat(lost, "/", sha);
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", from, " -> ", to));
    }
    touched_dirs.insert(std::filesystem::path(from).parent_path().string());
    ++summary.moved_to_lost_found;
  }
  if (summary.moved_to_lost_found > 0) {
    PS_RETURN_IF_ERROR(FsyncDirectory(lost));
    for (const std::string& d : touched_dirs) {
      PS_RETURN_IF_ERROR(FsyncDirectory(d));
    }
  }
  return summary;
}

absl::Status ModelRepository::CollectGarbage() {
  PS_ASSIGN_OR_RETURN(std::vector<std::string> referenced,
                      metadata_->ReferencedBlobs());
  std::set<std::string> keep(referenced.begin(), referenced.end());
  for (const std::string& sha : blobs_->List()) {
    if (!keep.count(sha)) PS_RETURN_IF_ERROR(blobs_->Remove(sha));
  }
  for (const std::string& sha : keep) {
    if (!blobs_->Contains(sha)) {
      // Metadata without bytes means the data directory was tampered with;
      // say so loudly but keep serving the rest.
      fprintf(stderr, "pruneserve: blob %s referenced but missing\n",
              sha.c_str());
    }
  }
  return ReconcileRecords();
}

absl::Status ModelRepository::ReconcileRecords() {
  PS_ASSIGN_OR_RETURN(std::vector<v1::ModelVersion> rows, metadata_->List(""));
  VersionRecordListing listing = records_->List();
  std::set<std::pair<std::string, int64_t>> recorded;
  for (const v1::ModelVersion& r : listing.records) {
    recorded.emplace(r.name(), r.version());
  }
  std::set<std::pair<std::string, int64_t>> listed;
  for (const v1::ModelVersion& row : rows) {
    listed.emplace(row.name(), row.version());
    // Versions stored before records existed, or whose record write failed.
    if (!recorded.count({row.name(), row.version()})) {
      PS_RETURN_IF_ERROR(records_->Write(row));
    }
  }
  // Deleted versions whose record outlived the row (a crash in between).
  for (const auto& key : recorded) {
    if (!listed.count(key)) {
      PS_RETURN_IF_ERROR(records_->Remove(key.first, key.second));
    }
  }
  return absl::OkStatus();
}

absl::Status ModelRepository::ValidateHeader(
    const v1::UploadModelHeader& header) const {
  PS_RETURN_IF_ERROR(ValidateModelName(header.name()));
  if (header.format() == v1::MODEL_FORMAT_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "model format is unspecified; set MODEL_FORMAT_TORCHSCRIPT or "
        "MODEL_FORMAT_XMODEL");
  }
  if (!v1::ModelFormat_IsValid(header.format())) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown model format ", header.format()));
  }
  if (!inspectors_.count(header.format())) {
    return absl::UnimplementedError(
        absl::StrCat("this server cannot accept ",
                     v1::ModelFormat_Name(header.format()), " uploads"));
  }
  if (static_cast<int64_t>(header.description().size()) >
      options_.max_description_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("description is ", header.description().size(),
                     " bytes; the limit is ", options_.max_description_bytes));
  }
  if (!header.expected_sha256().empty() &&
      !IsSha256Hex(header.expected_sha256())) {
    return absl::InvalidArgumentError(absl::StrCat("expected_sha256 \"",
                                                   header.expected_sha256(),
                                                   "\" is not 64 hex digits"));
  }
  if (header.example_input_shape_size() > kMaxShapeRank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "example_input_shape has rank ", header.example_input_shape_size(),
        "; at most ", kMaxShapeRank, " dimensions"));
  }
  for (int64_t d : header.example_input_shape()) {
    if (d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("example_input_shape has dimension ", d,
                       "; every dimension must be positive"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<UploadSession>> ModelRepository::BeginUpload(
    const v1::UploadModelHeader& header) {
  absl::Status valid = ValidateHeader(header);
  if (!valid.ok()) {
    RecordUpload(valid, 0);
    return valid;
  }
  PS_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, blobs_->NewWriter());
  return std::unique_ptr<UploadSession>(
      new UploadSession(this, header, std::move(writer)));
}

absl::StatusOr<v1::ModelVersion> ModelRepository::Finish(
    BlobWriter& writer, const v1::UploadModelHeader& header,
    const v1::Lineage& lineage, const std::string& report,
    absl::Duration slot_wait) {
  if (writer.bytes_written() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of \"", header.name(), "\" carried no bytes"));
  }
  PS_ASSIGN_OR_RETURN(std::string sha256, writer.Seal());
  if (!header.expected_sha256().empty() &&
      absl::AsciiStrToLower(header.expected_sha256()) != sha256) {
    return absl::DataLossError(absl::StrCat(
        "sha256 mismatch for \"", header.name(), "\": expected ",
        absl::AsciiStrToLower(header.expected_sha256()), ", received ", sha256,
        " over ", writer.bytes_written(), " bytes"));
  }
  v1::ModelVersion model;
  model.set_name(header.name());
  model.set_format(header.format());
  model.set_description(header.description());
  model.set_sha256(sha256);
  model.set_size_bytes(writer.bytes_written());
  *model.mutable_example_input_shape() = header.example_input_shape();
  if (!lineage.job_id().empty() || !lineage.parent_name().empty()) {
    *model.mutable_lineage() = lineage;
  }
  model.set_report(report);
  PS_RETURN_IF_ERROR(RunChecks(writer.temp_path(), &model, slot_wait));
  model.set_validation(v1::MODEL_VALIDATION_PASSED);

  absl::StatusOr<v1::ModelVersion> stored;
  {
    absl::MutexLock lock(&publish_mu_);
    // A job resumed after a crash between registering its result and
    // recording that it did registers it again: hand back the first one
    // (the caller's writer then discards the new bytes).
    if (!lineage.job_id().empty()) {
      PS_ASSIGN_OR_RETURN(
          std::optional<v1::ModelVersion> registered,
          metadata_->FindJobResult(header.name(), header.format(),
                                   lineage.job_id()));
      if (registered.has_value()) return *std::move(registered);
    }
    PS_RETURN_IF_ERROR(writer.Commit());
    stored = metadata_->InsertNextVersion(std::move(model));
    if (stored.ok()) {
      // The blob just verified or was replaced by these bytes: versions
      // marked corrupt because of it are whole again.
      absl::StatusOr<int> repaired = metadata_->SetCorrupt(sha256, false);
      if (!repaired.ok()) return repaired.status();
    }
  }
  if (stored.ok()) {
    // The row is committed, so the upload succeeded; a missing record only
    // matters if models.db is lost too, and the next start writes it.
    absl::Status recorded = records_->Write(*stored);
    if (!recorded.ok()) {
      fprintf(stderr, "pruneserve: version record of %s:%lld: %s\n",
              stored->name().c_str(), static_cast<long long>(stored->version()),
              recorded.ToString().c_str());
    }
  }
  RefreshTotals();
  return stored;
}

absl::StatusOr<v1::ModelVersion> ModelRepository::AddFile(
    const v1::UploadModelHeader& header, const std::string& path,
    const v1::Lineage& lineage, const std::string& report) {
  absl::Status valid = ValidateHeader(header);
  if (!valid.ok()) return valid;
  PS_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, blobs_->NewWriter());
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string buf(1 << 20, '\0');
  absl::Status status;
  while (status.ok()) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = absl::InternalError(absl::StrCat("read ", path));
    if (n <= 0) break;
    if (writer->bytes_written() + n > options_.max_model_bytes) {
      status = absl::ResourceExhaustedError(
          absl::StrCat(path, " exceeds the size limit of ",
                       options_.max_model_bytes, " bytes"));
      break;
    }
    status = writer->Append(absl::string_view(buf.data(), n));
  }
  ::close(fd);
  PS_RETURN_IF_ERROR(status);
  return Finish(*writer, header, lineage, report, absl::InfiniteDuration());
}

absl::StatusOr<v1::ModelVersion> ModelRepository::GetModel(
    const std::string& name, int64_t version) const {
  PS_RETURN_IF_ERROR(ValidateModelName(name));
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version ", version, " is negative"));
  }
  return metadata_->Get(name, version);
}

absl::StatusOr<std::vector<v1::ModelVersion>> ModelRepository::ListModels(
    const std::string& name) const {
  if (!name.empty()) PS_RETURN_IF_ERROR(ValidateModelName(name));
  return metadata_->List(name);
}

absl::StatusOr<int> ModelRepository::DeleteModel(const std::string& name,
                                                 int64_t version) {
  PS_RETURN_IF_ERROR(ValidateModelName(name));
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version ", version, " is negative"));
  }
  int deleted = 0;
  {
    absl::MutexLock lock(&publish_mu_);
    PS_ASSIGN_OR_RETURN(std::vector<v1::ModelVersion> rows,
                        metadata_->Delete(name, version));
    deleted = static_cast<int>(rows.size());
    std::set<std::string> shas;
    for (const auto& row : rows) {
      shas.insert(row.sha256());
      // A leftover record is removed at the next start; it must not stop
      // the blob from being freed now.
      absl::Status removed = records_->Remove(row.name(), row.version());
      if (!removed.ok()) {
        fprintf(stderr, "pruneserve: %s\n", removed.ToString().c_str());
      }
    }
    for (const std::string& sha : shas) {
      PS_ASSIGN_OR_RETURN(int64_t refs, metadata_->CountBlobReferences(sha));
      if (refs == 0) PS_RETURN_IF_ERROR(blobs_->Remove(sha));
    }
  }
  if (metrics_) metrics_->RecordDeletes(deleted);
  RefreshTotals();
  return deleted;
}

std::string ModelRepository::BlobPath(const v1::ModelVersion& model) const {
  return blobs_->PathFor(model.sha256());
}

absl::StatusOr<v1::BlobIntegrity> ModelRepository::CheckBlob(
    const std::string& sha256, bool marked, std::string* detail) const {
  absl::Status verified = blobs_->Verify(sha256);
  if (!verified.ok() && !absl::IsNotFound(verified) &&
      !absl::IsDataLoss(verified)) {
    return verified;
  }
  if (!verified.ok()) {
    // An upload of the same bytes may have replaced the blob since the
    // hash above; it does so under publish_mu_, so look once more there
    // before marking.
    absl::MutexLock lock(&publish_mu_);
    verified = blobs_->Verify(sha256);
    if (!verified.ok() && !absl::IsNotFound(verified) &&
        !absl::IsDataLoss(verified)) {
      return verified;
    }
    if (!verified.ok()) {
      PS_ASSIGN_OR_RETURN(int changed, metadata_->SetCorrupt(sha256, true));
      if (changed > 0) {
        fprintf(stderr, "pruneserve: %s; %d version(s) marked corrupt\n",
                std::string(verified.message()).c_str(), changed);
        RefreshTotals();
      }
      *detail = std::string(verified.message());
    }
  } else if (marked) {
    // Restored from a backup, or repaired by an upload.
    PS_ASSIGN_OR_RETURN(int changed, metadata_->SetCorrupt(sha256, false));
    if (changed > 0) RefreshTotals();
  }
  if (verified.ok()) return v1::BLOB_INTEGRITY_OK;
  return absl::IsNotFound(verified) ? v1::BLOB_INTEGRITY_MISSING
                                    : v1::BLOB_INTEGRITY_CORRUPT;
}

absl::StatusOr<std::string> ModelRepository::VerifiedBlobPath(
    const v1::ModelVersion& model) const {
  const std::string ref = absl::StrCat(model.name(), ":", model.version());
  if (model.corrupt()) {
    return absl::DataLossError(absl::StrCat(
        ref,
        " is marked corrupt: a check found its stored bytes missing or "
        "not matching sha256 ",
        model.sha256(),
        ". Upload the same file again to repair it, or delete the version."));
  }
  std::string detail;
  PS_ASSIGN_OR_RETURN(v1::BlobIntegrity integrity,
                      CheckBlob(model.sha256(), false, &detail));
  if (integrity == v1::BLOB_INTEGRITY_OK)
    return blobs_->PathFor(model.sha256());
  return absl::DataLossError(absl::StrCat(
      "stored bytes of ", ref,
      integrity == v1::BLOB_INTEGRITY_MISSING
          ? " are missing"
          : " are corrupt (sha256 mismatch)",
      ": ", detail,
      ". The version is now marked corrupt; upload the same file again to "
      "repair it, or delete the version."));
}

absl::Status ModelRepository::RunChecks(const std::string& path,
                                        v1::ModelVersion* model,
                                        absl::Duration slot_wait) const {
  auto inspector = inspectors_.find(model->format());
  if (inspector == inspectors_.end()) {
    return absl::UnimplementedError(
        absl::StrCat("this server cannot check ",
                     v1::ModelFormat_Name(model->format()), " models"));
  }
  const int limit = options_.max_concurrent_validations;
  {
    absl::MutexLock lock(&checks_mu_);
    auto slot_free = [this, limit]() ABSL_SHARED_LOCKS_REQUIRED(checks_mu_) {
      return checks_running_ < limit;
    };
    if (!checks_mu_.AwaitWithTimeout(absl::Condition(&slot_free), slot_wait)) {
      if (metrics_) metrics_->RecordValidationSlotRefusal();
      return LimitExceededError(
          absl::StatusCode::kResourceExhausted, "max_concurrent_validations",
          absl::StrCat("all ", limit,
                       " model validation slots stayed busy for ",
                       absl::FormatDuration(slot_wait),
                       " (--max_concurrent_validations); retry later"));
    }
    ++checks_running_;
    if (metrics_) metrics_->SetValidationsRunning(checks_running_);
  }
  const absl::Time start = absl::Now();
  absl::Status result = inspector->second->Inspect(path, model);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  {
    absl::MutexLock lock(&checks_mu_);
    --checks_running_;
    if (metrics_) metrics_->SetValidationsRunning(checks_running_);
  }
  if (metrics_) {
    std::string format =
        absl::AsciiStrToLower(v1::ModelFormat_Name(model->format())
                                  .substr(sizeof("MODEL_FORMAT_") - 1));
    metrics_->RecordValidation(format, result, seconds);
  }
  return result;
}

absl::StatusOr<std::string> ModelRepository::LoadableBlobPath(
    const v1::ModelVersion& model) const {
  PS_ASSIGN_OR_RETURN(std::string path, VerifiedBlobPath(model));
  const std::string ref = absl::StrCat(model.name(), ":", model.version());
  auto refused = [&ref](absl::string_view why) {
    return absl::FailedPreconditionError(absl::StrCat(
        ref, " failed the upload checks and is not loaded: ", why,
        ". Delete the version, or fix the model and upload it again."));
  };
  switch (model.validation()) {
    case v1::MODEL_VALIDATION_PASSED:
      return path;
    case v1::MODEL_VALIDATION_FAILED:
      return refused(model.validation_error());
    default:
      break;
  }
  // Stored before validation was recorded: check it now, on a scratch copy
  // (the inspector fills in metadata the row already has).
  v1::ModelVersion scratch;
  scratch.set_name(model.name());
  scratch.set_format(model.format());
  *scratch.mutable_example_input_shape() = model.example_input_shape();
  absl::Status checked =
      RunChecks(path, &scratch, options_.validation_slot_wait);
  const bool verdict =
      checked.ok() || absl::IsInvalidArgument(checked) ||
      (absl::IsResourceExhausted(checked) && !ExceededLimit(checked));
  if (!verdict) return checked;
  PS_RETURN_IF_ERROR(metadata_->SetValidation(
      model.name(), model.version(),
      checked.ok() ? v1::MODEL_VALIDATION_PASSED : v1::MODEL_VALIDATION_FAILED,
      std::string(checked.message())));
  const std::string outcome =
      checked.ok()
          ? std::string("passed the upload checks")
          : absl::StrCat("failed the upload checks: ", checked.message());
  fprintf(stderr, "pruneserve: %s, stored before validation was recorded, %s\n",
          ref.c_str(), outcome.c_str());
  if (!checked.ok()) return refused(checked.message());
  return path;
}

absl::StatusOr<std::vector<v1::VersionIntegrity>> ModelRepository::VerifyModels(
    const std::string& name, int64_t version) const {
  std::vector<v1::ModelVersion> rows;
  if (name.empty()) {
    if (version != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("version ", version, " given without a model name"));
    }
    PS_ASSIGN_OR_RETURN(rows, metadata_->List(""));
  } else if (version > 0) {
    PS_ASSIGN_OR_RETURN(v1::ModelVersion row, GetModel(name, version));
    rows.push_back(std::move(row));
  } else {
    PS_ASSIGN_OR_RETURN(rows, ListModels(name));
    if (version < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("version ", version, " is negative"));
    }
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("model ", name, " not found"));
    }
  }
  std::map<std::string, bool> marked;
  for (const v1::ModelVersion& row : rows) {
    marked[row.sha256()] = marked[row.sha256()] || row.corrupt();
  }
  std::map<std::string, std::pair<v1::BlobIntegrity, std::string>> found;
  for (const auto& [sha, any_marked] : marked) {
    std::string detail;
    PS_ASSIGN_OR_RETURN(v1::BlobIntegrity integrity,
                        CheckBlob(sha, any_marked, &detail));
    found[sha] = {integrity, std::move(detail)};
  }
  std::vector<v1::VersionIntegrity> out;
  out.reserve(rows.size());
  for (const v1::ModelVersion& row : rows) {
    v1::VersionIntegrity& v = out.emplace_back();
    v.set_name(row.name());
    v.set_version(row.version());
    v.set_sha256(row.sha256());
    v.set_integrity(found[row.sha256()].first);
    v.set_detail(found[row.sha256()].second);
  }
  return out;
}

void ModelRepository::RecordUpload(const absl::Status& status, int64_t bytes) {
  if (metrics_) metrics_->RecordUpload(status, bytes);
}

void ModelRepository::RefreshTotals() const {
  if (!metrics_) return;
  absl::StatusOr<MetadataTotals> totals = metadata_->Totals();
  if (totals.ok()) {
    metrics_->SetTotals(totals->models, totals->versions, totals->bytes);
    metrics_->SetCorruptVersions(totals->corrupt_versions);
  }
}

}  // namespace pruneserve
