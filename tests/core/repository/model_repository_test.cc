#include "core/repository/model_repository.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/time/clock.h"
#include "core/repository/repository_scrubber.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/testing/fake_model_inspector.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

namespace fs = std::filesystem;

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) ++n;
  }
  return n;
}

double CounterValue(prometheus::Registry& registry, const std::string& name,
                    const std::string& result) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = result.empty();
      for (const auto& label : metric.label) {
        if (label.name == "result" && label.value == result) match = true;
      }
      if (match) return metric.counter.value + metric.gauge.value;
    }
  }
  return -1;
}

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(int64_t max_bytes = 1 << 20) {
    absl::Status s = TryOpen(max_bytes);
    ASSERT_TRUE(s.ok()) << s;
  }

  absl::Status TryOpen(int64_t max_bytes = 1 << 20) {
    repo_.reset();
    metrics_ = std::make_unique<RepositoryMetrics>(registry_);
    ModelRepository::InspectorMap inspectors;
    auto inspector = std::make_unique<testing::FakeModelInspector>();
    inspector_ = inspector.get();
    inspectors[v1::MODEL_FORMAT_TORCHSCRIPT] = std::move(inspector);
    ModelRepositoryOptions options = options_;
    options.data_dir = dir_.path();
    options.max_model_bytes = max_bytes;
    auto repo =
        ModelRepository::Create(options, std::move(inspectors), metrics_.get());
    if (!repo.ok()) return repo.status();
    repo_ = *std::move(repo);
    return absl::OkStatus();
  }

  static v1::UploadModelHeader Header(const std::string& name) {
    v1::UploadModelHeader h;
    h.set_name(name);
    h.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    return h;
  }

  absl::StatusOr<v1::ModelVersion> Upload(const v1::UploadModelHeader& header,
                                          const std::string& bytes) {
    auto session = repo_->BeginUpload(header);
    if (!session.ok()) return session.status();
    for (size_t i = 0; i < bytes.size(); i += 4) {
      absl::Status s =
          (*session)->Append(absl::string_view(bytes).substr(i, 4));
      if (!s.ok()) return s;
    }
    return (*session)->Commit();
  }

  // Metric value of the series of `name` that carries label `key`=`value`.
  double LabelledValue(const std::string& name, const std::string& key,
                       const std::string& value) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == key && label.value == value) {
            return metric.counter.value + metric.gauge.value +
                   static_cast<double>(metric.histogram.sample_count);
          }
        }
      }
    }
    return -1;
  }

  testing::TempDir dir_;
  prometheus::Registry registry_;
  std::unique_ptr<RepositoryMetrics> metrics_;
  // Applied by the next Open() (data_dir and max_model_bytes replaced).
  ModelRepositoryOptions options_;
  // Owned by repo_.
  testing::FakeModelInspector* inspector_ = nullptr;
  std::unique_ptr<ModelRepository> repo_;
};

TEST_F(ModelRepositoryTest, UploadStoresBytesAndMetadata) {
  auto header = Header("net");
  header.set_description("a net");
  header.set_expected_sha256(Sha256Hex("model bytes"));
  auto m = Upload(header, "model bytes");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->version(), 1);
  EXPECT_EQ(m->size_bytes(), 11);
  EXPECT_EQ(m->sha256(), Sha256Hex("model bytes"));
  EXPECT_EQ(m->parameter_count(), 7);  // from the inspector
  EXPECT_EQ(m->description(), "a net");
  std::ifstream in(repo_->BlobPath(*m));
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "model bytes");
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_uploads_total", "ok"), 1);
  EXPECT_EQ(CounterValue(registry_, "pruneserve_repository_model_versions", ""),
            1);
  EXPECT_EQ(CounterValue(registry_, "pruneserve_repository_stored_bytes", ""),
            11);
}

TEST_F(ModelRepositoryTest, SameNameGetsNextVersion) {
  ASSERT_TRUE(Upload(Header("net"), "one").ok());
  auto second = Upload(Header("net"), "two");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->version(), 2);
  EXPECT_EQ(repo_->GetModel("net", 0)->version(), 2);
  EXPECT_EQ(repo_->GetModel("net", 1)->sha256(), Sha256Hex("one"));
}

TEST_F(ModelRepositoryTest, EmptyUploadIsInvalidAndStoresNothing) {
  auto m = Upload(Header("net"), "");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("no bytes"), std::string::npos);
  EXPECT_TRUE(repo_->ListModels("")->empty());
  EXPECT_EQ(CountFiles(dir_.Join("tmp")), 0u);
}

TEST_F(ModelRepositoryTest, WrongSha256IsDataLoss) {
  auto header = Header("net");
  header.set_expected_sha256(Sha256Hex("something else"));
  auto m = Upload(header, "model bytes");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(m.status().message().find("sha256 mismatch"), std::string::npos);
  EXPECT_TRUE(repo_->ListModels("")->empty());
  EXPECT_EQ(CountFiles(dir_.path() + "/blobs"), 0u);
  EXPECT_EQ(CountFiles(dir_.Join("tmp")), 0u);
  EXPECT_EQ(CounterValue(registry_, "pruneserve_repository_uploads_total",
                         "data_loss"),
            1);
}

TEST_F(ModelRepositoryTest, OversizedUploadStopsEarlyAndRemovesTempFile) {
  Open(/*max_bytes=*/10);
  auto session = repo_->BeginUpload(Header("big"));
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE((*session)->Append("12345678").ok());
  EXPECT_EQ(CountFiles(dir_.Join("tmp")), 1u);
  absl::Status s = (*session)->Append("9012");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("size limit of 10 bytes"), std::string::npos);
  // The temp file is gone at once, not when the session ends.
  EXPECT_EQ(CountFiles(dir_.Join("tmp")), 0u);
  EXPECT_EQ((*session)->Commit().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(repo_->ListModels("")->empty());
}

TEST_F(ModelRepositoryTest, InvalidModelIsRejectedAndNothingStored) {
  auto m = Upload(Header("net"), "bad bytes");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(repo_->ListModels("")->empty());
  EXPECT_EQ(CountFiles(dir_.path() + "/blobs"), 0u);
  EXPECT_EQ(CountFiles(dir_.Join("tmp")), 0u);
}

TEST_F(ModelRepositoryTest, BadHeadersAreRejectedBeforeAnyBytes) {
  auto no_format = Header("net");
  no_format.set_format(v1::MODEL_FORMAT_UNSPECIFIED);
  EXPECT_EQ(repo_->BeginUpload(no_format).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto xmodel = Header("net");
  xmodel.set_format(v1::MODEL_FORMAT_XMODEL);
  EXPECT_EQ(repo_->BeginUpload(xmodel).status().code(),
            absl::StatusCode::kUnimplemented);
  auto bad_sha = Header("net");
  bad_sha.set_expected_sha256("xyz");
  EXPECT_EQ(repo_->BeginUpload(bad_sha).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto bad_shape = Header("net");
  bad_shape.add_example_input_shape(0);
  EXPECT_EQ(repo_->BeginUpload(bad_shape).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const std::string& name : {std::string("a/b"), std::string(".."),
                                  std::string("x\ny"), std::string(129, 'n')}) {
    EXPECT_EQ(repo_->BeginUpload(Header(name)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
}

TEST_F(ModelRepositoryTest, AbandonedSessionLeavesNoTrace) {
  {
    auto session = repo_->BeginUpload(Header("net"));
    ASSERT_TRUE((*session)->Append("half").ok());
  }
  EXPECT_EQ(CountFiles(dir_.Join("tmp")), 0u);
  EXPECT_TRUE(repo_->ListModels("")->empty());
  EXPECT_EQ(CounterValue(registry_, "pruneserve_repository_uploads_total",
                         "cancelled"),
            1);
}

TEST_F(ModelRepositoryTest, ConcurrentUploadsOfOneNameLandAsDistinctVersions) {
  constexpr int kUploads = 6;
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<v1::ModelVersion>> results(kUploads);
  for (int i = 0; i < kUploads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Upload(Header("net"), "model " + std::to_string(i));
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> versions;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    versions.insert(r->version());
  }
  EXPECT_EQ(versions, (std::set<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(repo_->ListModels("net")->size(), 6u);
}

TEST_F(ModelRepositoryTest, DeleteFreesBlobOnlyWhenUnreferenced) {
  auto a = Upload(Header("a"), "shared");
  auto b = Upload(Header("b"), "shared");
  ASSERT_TRUE(a.ok() && b.ok());
  std::string blob = repo_->BlobPath(*a);
  EXPECT_EQ(*repo_->DeleteModel("a", 0), 1);
  EXPECT_TRUE(fs::exists(blob));
  EXPECT_EQ(*repo_->DeleteModel("b", 1), 1);
  EXPECT_FALSE(fs::exists(blob));
  EXPECT_EQ(repo_->DeleteModel("b", 1).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(repo_->DeleteModel("never", 0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryTest, ReopenKeepsModelsAndCollectsOrphans) {
  auto m = Upload(Header("net"), "keep me");
  ASSERT_TRUE(m.ok());
  // An orphan blob, as a crash between publishing bytes and the row leaves.
  std::string orphan = dir_.path() + "/blobs/aa/" + std::string(64, 'a');
  fs::create_directories(dir_.path() + "/blobs/aa");
  std::ofstream(orphan) << "orphan";
  Open();
  EXPECT_FALSE(fs::exists(orphan));
  auto again = repo_->GetModel("net", 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->sha256(), m->sha256());
  EXPECT_TRUE(fs::exists(repo_->BlobPath(*again)));
}

// A second server on the same directory would wipe the first one's tmp/
// uploads and collect its fresh blobs: it must refuse to open, naming the
// directory, and leave the first one's data alone.
TEST_F(ModelRepositoryTest, SecondRepositoryOnSameDirectoryRefusesToOpen) {
  auto m = Upload(Header("net"), "keep me");
  ASSERT_TRUE(m.ok());
  auto session = repo_->BeginUpload(Header("net"));
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE((*session)->Append("in progress").ok());

  ModelRepository::InspectorMap inspectors;
  inspectors[v1::MODEL_FORMAT_TORCHSCRIPT] =
      std::make_unique<testing::FakeModelInspector>();
  ModelRepositoryOptions options;
  options.data_dir = dir_.path();
  auto second = ModelRepository::Create(options, std::move(inspectors),
                                        /*metrics=*/nullptr);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find(dir_.path()), std::string::npos)
      << second.status();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status();

  // The first repository's upload in progress is intact and commits.
  auto committed = (*session)->Commit();
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->version(), 2);

  // Once the first is closed the directory opens again.
  session->reset();
  Open();
  EXPECT_EQ(repo_->ListModels("")->size(), 2u);
}

// A lost models.db must not read as an empty index: start-up would then
// collect every stored blob. The start fails naming the recovery, and
// nothing is deleted or created.
TEST_F(ModelRepositoryTest,
       MissingIndexWithBlobsRefusesToStartAndDeletesNothing) {
  auto m = Upload(Header("net"), "keep me");
  ASSERT_TRUE(m.ok());
  const std::string blob = repo_->BlobPath(*m);
  repo_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::remove(dir_.Join(std::string("models.db") + suffix));
  }
  absl::Status s = TryOpen();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("--rebuild_index"), std::string::npos) << s;
  EXPECT_NE(s.message().find(dir_.path()), std::string::npos) << s;
  EXPECT_TRUE(fs::exists(blob));
  EXPECT_FALSE(fs::exists(dir_.Join("models.db")));
}

// The same for a models.db that is there but is not the index: an empty
// file (SQLite would give it a fresh schema) or not a database at all.
TEST_F(ModelRepositoryTest, IndexWithoutSchemaOrNotADatabaseDeletesNothing) {
  auto m = Upload(Header("net"), "keep me");
  ASSERT_TRUE(m.ok());
  const std::string blob = repo_->BlobPath(*m);
  repo_.reset();
  for (const std::string& contents : {std::string(), std::string(8192, 'x')}) {
    for (const char* suffix : {"-wal", "-shm"}) {
      fs::remove(dir_.Join(std::string("models.db") + suffix));
    }
    std::ofstream(dir_.Join("models.db"), std::ios::trunc) << contents;
    absl::Status s = TryOpen();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("--rebuild_index"), std::string::npos) << s;
    EXPECT_TRUE(fs::exists(blob));
  }
}

// A blob no version record names (stored before records existed, or its
// record lost too) cannot be given a name again: it goes to lost+found.
TEST_F(ModelRepositoryTest, RebuildIndexMovesUnlistedBlobsToLostAndFound) {
  auto m = Upload(Header("net"), "keep me");
  ASSERT_TRUE(m.ok());
  const std::string sha = m->sha256();
  // Held by the open repository: refused.
  EXPECT_EQ(ModelRepository::RebuildIndex(dir_.path()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  repo_.reset();
  std::ofstream(dir_.Join("models.db"), std::ios::trunc)
      << std::string(8192, 'x');
  fs::remove(dir_.Join("models.db-wal"));
  fs::remove(dir_.Join("models.db-shm"));
  fs::remove_all(dir_.Join("records"));

  auto summary = ModelRepository::RebuildIndex(dir_.path());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->moved_to_lost_found, 1);
  EXPECT_EQ(summary->restored_versions, 0);
  std::ifstream in(dir_.Join("lost+found/" + sha));
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "keep me");
  // The damaged index was moved aside, not deleted.
  int damaged = 0;
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    if (e.path().filename().string().rfind("models.db.damaged.", 0) == 0) {
      ++damaged;
    }
  }
  EXPECT_EQ(damaged, 1);
  EXPECT_FALSE(summary->damaged_index_moved_to.empty());

  Open();
  EXPECT_TRUE(repo_->ListModels("")->empty());
  EXPECT_TRUE(fs::exists(dir_.Join("lost+found/" + sha)));
}

// With models.db gone, every version comes back from its record: same
// name, version, sha256, description and lineage; deleted versions stay
// deleted and version numbers are not reused.
TEST_F(ModelRepositoryTest, RebuildIndexRestoresVersionsFromRecords) {
  auto header = Header("net");
  header.set_description("first net");
  ASSERT_TRUE(Upload(header, "net one").ok());
  ASSERT_TRUE(Upload(Header("net"), "net two").ok());
  ASSERT_TRUE(Upload(Header("net"), "net three").ok());
  std::string path = dir_.Join("job_output.pt");
  std::ofstream(path) << "pruned net";
  v1::Lineage lineage;
  lineage.set_parent_name("net");
  lineage.set_parent_version(1);
  lineage.set_job_id("job-7");
  auto pruned = repo_->AddFile(Header("net-pruned"), path, lineage, "report");
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  ASSERT_EQ(*repo_->DeleteModel("net", 2), 1);
  auto before = repo_->ListModels("");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 3u);
  repo_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::remove(dir_.Join(std::string("models.db") + suffix));
  }
  ASSERT_EQ(TryOpen().code(), absl::StatusCode::kFailedPrecondition);

  auto summary = ModelRepository::RebuildIndex(dir_.path());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->restored_versions, 3);
  EXPECT_EQ(summary->moved_to_lost_found, 0);
  EXPECT_EQ(summary->records_skipped, 0);
  EXPECT_EQ(summary->unreadable_records, 0);

  Open();
  auto after = repo_->ListModels("");
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ((*after)[i].SerializeAsString(), (*before)[i].SerializeAsString())
        << (*after)[i].name() << ":" << (*after)[i].version();
    EXPECT_TRUE(repo_->VerifiedBlobPath((*after)[i]).ok());
  }
  EXPECT_EQ((*after)[0].description(), "first net");
  EXPECT_EQ((*after)[2].lineage().job_id(), "job-7");
  EXPECT_EQ((*after)[2].report(), "report");
  // net:3 was the last version handed out: the next is 4.
  auto next = Upload(Header("net"), "net four");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->version(), 4);
  // The job's registration stays idempotent after the rebuild.
  auto again = repo_->AddFile(Header("net-pruned"), path, lineage, "report");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version(), pruned->version());

  // A second rebuild over a healthy index restores nothing twice.
  repo_.reset();
  auto second = ModelRepository::RebuildIndex(dir_.path());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->restored_versions, 0);
  EXPECT_EQ(second->records_skipped, 4);
  EXPECT_EQ(second->moved_to_lost_found, 0);
}

// Data directories written before version records existed get them at the
// next start, and a record whose row is gone is removed then.
TEST_F(ModelRepositoryTest, StartWritesMissingRecordsAndDropsStaleOnes) {
  auto m = Upload(Header("net"), "net one");
  ASSERT_TRUE(m.ok());
  const std::string record = dir_.Join("records/net/1.pb");
  EXPECT_TRUE(fs::exists(record));
  repo_.reset();
  fs::remove_all(dir_.Join("records"));
  fs::create_directories(dir_.Join("records/gone"));
  v1::ModelVersion stale;
  stale.set_name("gone");
  stale.set_version(5);
  stale.set_sha256(Sha256Hex("gone"));
  std::ofstream(dir_.Join("records/gone/5.pb")) << stale.SerializeAsString();
  Open();
  EXPECT_TRUE(fs::exists(record));
  EXPECT_FALSE(fs::exists(dir_.Join("records/gone/5.pb")));
  ASSERT_EQ(*repo_->DeleteModel("net", 0), 1);
  EXPECT_FALSE(fs::exists(record));
}

// Loads and downloads go through VerifiedBlobPath: a stored blob whose bytes
// no longer hash to the recorded sha256 is DATA_LOSS naming the version.
TEST_F(ModelRepositoryTest, CorruptOrMissingBlobIsDataLossNamingTheVersion) {
  auto m = Upload(Header("net"), "model bytes");
  ASSERT_TRUE(m.ok());
  auto path = repo_->VerifiedBlobPath(*m);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, repo_->BlobPath(*m));

  std::ofstream(*path, std::ios::trunc) << "model bytez";
  auto corrupt = repo_->VerifiedBlobPath(*m);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find("net:1"), std::string::npos)
      << corrupt.status();

  fs::remove(*path);
  auto missing = repo_->VerifiedBlobPath(*m);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(missing.status().message().find("net:1"), std::string::npos)
      << missing.status();
}

// Uploading the same bytes again repairs a corrupt blob instead of being
// deduplicated onto it.
TEST_F(ModelRepositoryTest, ReuploadOfSameBytesReplacesCorruptBlob) {
  auto first = Upload(Header("net"), "model bytes");
  ASSERT_TRUE(first.ok());
  std::ofstream(repo_->BlobPath(*first), std::ios::trunc) << "rotten";
  auto second = Upload(Header("net"), "model bytes");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->sha256(), first->sha256());
  EXPECT_TRUE(repo_->VerifiedBlobPath(*first).ok());
  EXPECT_TRUE(repo_->VerifiedBlobPath(*second).ok());
}

// A mismatch found on load or download marks every version stored in that
// blob corrupt (models.db and the metric); they are refused without a
// re-hash until the same bytes are uploaded again, which clears the mark.
TEST_F(ModelRepositoryTest, CorruptBlobIsMarkedAndRefusedUntilReuploaded) {
  auto net = Upload(Header("net"), "model bytes");
  auto twin = Upload(Header("twin"), "model bytes");
  auto other = Upload(Header("other"), "other bytes");
  ASSERT_TRUE(net.ok() && twin.ok() && other.ok());
  const std::string blob = repo_->BlobPath(*net);
  std::ofstream(blob, std::ios::trunc) << "model bytez";

  auto refused = repo_->VerifiedBlobPath(*repo_->GetModel("net", 1));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("net:1"), std::string::npos)
      << refused.status();
  EXPECT_TRUE(repo_->GetModel("net", 1)->corrupt());
  EXPECT_TRUE(repo_->GetModel("twin", 1)->corrupt());
  EXPECT_FALSE(repo_->GetModel("other", 1)->corrupt());
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_corrupt_versions", ""), 2);

  // Bytes put back by hand: still refused (no re-hash) until verified or
  // re-uploaded; the mark survives a restart.
  std::ofstream(blob, std::ios::trunc) << "model bytes";
  repo_.reset();
  Open();
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_corrupt_versions", ""), 2);
  auto marked = repo_->VerifiedBlobPath(*repo_->GetModel("twin", 1));
  EXPECT_EQ(marked.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(marked.status().message().find("twin:1 is marked corrupt"),
            std::string::npos)
      << marked.status();

  // Rot again, then an upload of the same content repairs blob and marks.
  std::ofstream(blob, std::ios::trunc) << "rot";
  auto repaired = Upload(Header("net"), "model bytes");
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(repaired->version(), 2);
  EXPECT_FALSE(repo_->GetModel("net", 1)->corrupt());
  EXPECT_FALSE(repo_->GetModel("twin", 1)->corrupt());
  EXPECT_TRUE(repo_->VerifiedBlobPath(*repo_->GetModel("twin", 1)).ok());
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_corrupt_versions", ""), 0);
}

TEST_F(ModelRepositoryTest, VerifyModelsReportsOkCorruptAndMissing) {
  auto a = Upload(Header("a"), "aaaa");
  auto b1 = Upload(Header("b"), "bbbb");
  auto b2 = Upload(Header("b"), "bbbb two");
  auto c = Upload(Header("c"), "cccc");
  ASSERT_TRUE(a.ok() && b1.ok() && b2.ok() && c.ok());
  std::ofstream(repo_->BlobPath(*b2), std::ios::trunc) << "bbbb tw0";
  fs::remove(repo_->BlobPath(*c));

  auto all = repo_->VerifyModels("", 0);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].name(), "a");
  EXPECT_EQ((*all)[0].integrity(), v1::BLOB_INTEGRITY_OK);
  EXPECT_EQ((*all)[1].integrity(), v1::BLOB_INTEGRITY_OK);
  EXPECT_EQ((*all)[2].name(), "b");
  EXPECT_EQ((*all)[2].version(), 2);
  EXPECT_EQ((*all)[2].integrity(), v1::BLOB_INTEGRITY_CORRUPT);
  EXPECT_NE((*all)[2].detail().find(Sha256Hex("bbbb tw0")), std::string::npos)
      << (*all)[2].detail();
  EXPECT_EQ((*all)[3].integrity(), v1::BLOB_INTEGRITY_MISSING);
  EXPECT_TRUE(repo_->GetModel("b", 2)->corrupt());
  EXPECT_TRUE(repo_->GetModel("c", 1)->corrupt());
  EXPECT_FALSE(repo_->GetModel("b", 1)->corrupt());
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_corrupt_versions", ""), 2);

  // One version, or one model's versions.
  auto one = repo_->VerifyModels("b", 1);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].integrity(), v1::BLOB_INTEGRITY_OK);
  // Restored from a backup: the check clears the mark.
  std::ofstream(repo_->BlobPath(*b2), std::ios::trunc) << "bbbb two";
  auto model_b = repo_->VerifyModels("b", 0);
  ASSERT_TRUE(model_b.ok());
  ASSERT_EQ(model_b->size(), 2u);
  EXPECT_EQ((*model_b)[1].integrity(), v1::BLOB_INTEGRITY_OK);
  EXPECT_FALSE(repo_->GetModel("b", 2)->corrupt());
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_corrupt_versions", ""), 1);

  EXPECT_EQ(repo_->VerifyModels("nope", 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(repo_->VerifyModels("b", 9).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(repo_->VerifyModels("", 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repo_->VerifyModels("../x", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The scrub runs the same check over every model, on demand when the
// interval is 0, and counts its passes.
TEST_F(ModelRepositoryTest, ScrubberMarksCorruptVersions) {
  auto a = Upload(Header("a"), "aaaa");
  auto b = Upload(Header("b"), "bbbb");
  ASSERT_TRUE(a.ok() && b.ok());
  std::ofstream(repo_->BlobPath(*b), std::ios::trunc) << "bbbx";
  RepositoryScrubberOptions options;
  options.interval = absl::ZeroDuration();
  auto scrubber =
      RepositoryScrubber::Create(options, repo_.get(), metrics_.get());
  ASSERT_TRUE(scrubber.ok()) << scrubber.status();
  auto summary = (*scrubber)->ScrubNow();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->versions, 2);
  EXPECT_EQ(summary->ok, 1);
  EXPECT_EQ(summary->corrupt, 1);
  EXPECT_EQ(summary->missing, 0);
  EXPECT_TRUE(repo_->GetModel("b", 1)->corrupt());
  EXPECT_EQ(CounterValue(registry_, "pruneserve_repository_scrubs_total", ""),
            1);
  (*scrubber)->Stop();
  EXPECT_EQ((*scrubber)->ScrubNow().status().code(),
            absl::StatusCode::kCancelled);
}

// A job resumed after a crash between registering its result and recording
// its state registers the result again: that must not add a version.
TEST_F(ModelRepositoryTest, AddFileIsIdempotentPerJob) {
  std::string path = dir_.Join("job_output.pt");
  std::ofstream(path) << "pruned model";
  v1::Lineage lineage;
  lineage.set_parent_name("net");
  lineage.set_parent_version(1);
  lineage.set_job_id("job-1");
  auto first = repo_->AddFile(Header("pruned"), path, lineage, "report");
  ASSERT_TRUE(first.ok()) << first.status();
  // The re-run's bytes may differ (training is not bit-reproducible).
  std::ofstream(path, std::ios::trunc) << "pruned model, second run";
  auto again = repo_->AddFile(Header("pruned"), path, lineage, "report");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->version(), first->version());
  EXPECT_EQ(again->sha256(), first->sha256());
  EXPECT_EQ(repo_->ListModels("pruned")->size(), 1u);
  EXPECT_EQ(CountFiles(dir_.Join("blobs")), 1u);
  EXPECT_EQ(CountFiles(dir_.Join("tmp")), 0u);

  // Another job, or the same job's result in another format, is new.
  lineage.set_job_id("job-2");
  auto other = repo_->AddFile(Header("pruned"), path, lineage, "report");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->version(), first->version() + 1);
  // Uploads carry no job id and always add a version.
  EXPECT_EQ(Upload(Header("pruned"), "pruned model")->version(),
            first->version() + 2);
}

TEST_F(ModelRepositoryTest, AddFileRecordsLineageAndReport) {
  std::string path = dir_.Join("job_output.pt");
  std::ofstream(path) << "pruned model";
  v1::Lineage lineage;
  lineage.set_parent_name("net");
  lineage.set_parent_version(1);
  lineage.set_job_id("job-1");
  lineage.set_policy("refined");
  auto m = repo_->AddFile(Header("net"), path, lineage, "report-bytes");
  ASSERT_TRUE(m.ok()) << m.status();
  auto got = repo_->GetModel("net", m->version());
  EXPECT_EQ(got->lineage().job_id(), "job-1");
  EXPECT_EQ(got->lineage().parent_version(), 1);
  EXPECT_EQ(got->report(), "report-bytes");
  EXPECT_TRUE(fs::exists(path));  // the caller keeps its file
}

TEST_F(ModelRepositoryTest, UploadsRecordThatTheyPassedTheChecks) {
  auto m = Upload(Header("net"), "model");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->validation(), v1::MODEL_VALIDATION_PASSED);
  EXPECT_EQ(repo_->GetModel("net", 1)->validation(),
            v1::MODEL_VALIDATION_PASSED);
  EXPECT_TRUE(Upload(Header("net"), "bad model").status().code() ==
              absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      LabelledValue("pruneserve_repository_validations_total", "result", "ok"),
      1);
  EXPECT_EQ(LabelledValue("pruneserve_repository_validations_total", "result",
                          "invalid_argument"),
            1);
  EXPECT_EQ(LabelledValue("pruneserve_repository_validation_seconds", "format",
                          "torchscript"),
            2);
  // A passed version loads without another check.
  const int calls = inspector_->calls();
  auto path = repo_->LoadableBlobPath(*m);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, repo_->BlobPath(*m));
  EXPECT_EQ(inspector_->calls(), calls);
}

// Versions stored by a release that did not record validation (their rows
// read MODEL_VALIDATION_UNSPECIFIED) are checked before their first load,
// once; the outcome is recorded, and a failure refuses the load but not the
// download.
TEST_F(ModelRepositoryTest, VersionStoredBeforeValidationIsCheckedOnFirstLoad) {
  inspector_->set_accept_all(true);
  ASSERT_TRUE(Upload(Header("net"), "good model").ok());
  ASSERT_TRUE(Upload(Header("net"), "bad model").ok());
  repo_.reset();
  {
    auto store = ModelMetadataStore::Create({dir_.Join("models.db")});
    ASSERT_TRUE(store.ok()) << store.status();
    for (int64_t v : {1, 2}) {
      ASSERT_TRUE(
          (*store)
              ->SetValidation("net", v, v1::MODEL_VALIDATION_UNSPECIFIED, "")
              .ok());
    }
  }
  Open();
  EXPECT_EQ(repo_->GetModel("net", 1)->validation(),
            v1::MODEL_VALIDATION_UNSPECIFIED);

  auto good = repo_->LoadableBlobPath(*repo_->GetModel("net", 1));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(inspector_->calls(), 1);
  EXPECT_EQ(repo_->GetModel("net", 1)->validation(),
            v1::MODEL_VALIDATION_PASSED);
  ASSERT_TRUE(repo_->LoadableBlobPath(*repo_->GetModel("net", 1)).ok());
  EXPECT_EQ(inspector_->calls(), 1);

  auto bad = repo_->LoadableBlobPath(*repo_->GetModel("net", 2));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("net:2"), std::string::npos)
      << bad.status();
  EXPECT_NE(bad.status().message().find("fake: bad model"), std::string::npos)
      << bad.status();
  EXPECT_EQ(inspector_->calls(), 2);
  auto row = repo_->GetModel("net", 2);
  EXPECT_EQ(row->validation(), v1::MODEL_VALIDATION_FAILED);
  EXPECT_EQ(row->validation_error(), "fake: bad model");
  // Refused again from the record, without another check; still
  // downloadable.
  EXPECT_EQ(repo_->LoadableBlobPath(*row).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(inspector_->calls(), 2);
  EXPECT_TRUE(repo_->VerifiedBlobPath(*row).ok());
}

// With one slot, a second check waits for the first and never runs beside
// it; one that waits longer than validation_slot_wait is refused, counted
// under the limit's name.
TEST_F(ModelRepositoryTest, ChecksBeyondTheSlotCapWaitThenAreRefused) {
  options_.max_concurrent_validations = 1;
  options_.validation_slot_wait = absl::Seconds(30);
  Open();
  inspector_->Hold();
  absl::StatusOr<v1::ModelVersion> first, second;
  std::thread a([&] { first = Upload(Header("a"), "model a"); });
  inspector_->WaitUntilInside(1);
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_validations_running", ""),
      1);
  // b waits for a's slot (or, if it is late, finds it free): either way the
  // two checks never overlap.
  std::thread b([&] { second = Upload(Header("b"), "model b"); });
  inspector_->Release();
  a.join();
  b.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(inspector_->most_inside(), 1);
  EXPECT_EQ(
      CounterValue(registry_, "pruneserve_repository_validations_running", ""),
      0);

  options_.validation_slot_wait = absl::Milliseconds(50);
  Open();
  inspector_->Hold();
  std::thread c([&] { first = Upload(Header("c"), "model c"); });
  inspector_->WaitUntilInside(1);
  auto refused = Upload(Header("d"), "model d");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("--max_concurrent_validations"),
            std::string::npos)
      << refused.status();
  EXPECT_EQ(LabelledValue("pruneserve_admission_refusals_total", "limit",
                          "max_concurrent_validations"),
            1);
  // A job's result is never given up for want of a slot: AddFile waits
  // past validation_slot_wait.
  const std::string result = dir_.Join("job_output.pt");
  std::ofstream(result) << "pruned model";
  v1::Lineage lineage;
  lineage.set_job_id("job-1");
  absl::StatusOr<v1::ModelVersion> registered;
  std::thread e(
      [&] { registered = repo_->AddFile(Header("e"), result, lineage, ""); });
  absl::SleepFor(absl::Milliseconds(200));  // 4x the slot wait
  inspector_->Release();
  c.join();
  e.join();
  EXPECT_TRUE(registered.ok()) << registered.status();
  EXPECT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(repo_->GetModel("d", 0).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pruneserve
