// Data sets through the API, end to end with the real pruneserve and
// prunectl binaries: each format uploaded from a local directory (prunectl
// packs it into a tar on the fly), listed, shown and removed; a pruning job
// on dataset:NAME, and on a local directory that `job submit` uploads
// first; hostile archives (traversal, absolute entries, links, a device, a
// 10 GiB decompressed-size bomb) each refused with its code, nothing
// written outside the data directory, the server still serving; server
// paths only inside --data_roots, escapes by ".." or symlink refused with
// the same message as a path that does not exist.
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "client/channel.h"
#include "client/dataset_client.h"
#include "client/job_client.h"
#include "client/repository_client.h"
#include "core/data/idx_file.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/dataset_archives.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::TarBuilder;

constexpr char kFashion[] = "/usr/share/datasets/fashion-mnist";

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// Big-endian IDX headers around the first `n` examples of a real split.
void WriteFashionSubset(const std::string& dir, const std::string& prefix,
                        int n) {
  data::IdxOptions o;
  o.images_path = absl::StrCat(kFashion, "/", prefix, "-images-idx3-ubyte.gz");
  o.labels_path = absl::StrCat(kFashion, "/", prefix, "-labels-idx1-ubyte.gz");
  o.limit = n;
  auto idx = data::ReadIdxFiles(o);
  ASSERT_TRUE(idx.ok()) << idx.status();
  auto be = [](uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
    return s;
  };
  WriteFile(absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte"),
            be(0x803) + be(n) + be(idx->rows) + be(idx->cols) +
                std::string(idx->pixels.begin(), idx->pixels.end()));
  WriteFile(
      absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte"),
      be(0x801) + be(n) + std::string(idx->labels.begin(), idx->labels.end()));
}

class DatasetsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(std::string(kFashion) + "/train-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
    // roots/ is the allow-list; outside/ must stay unreachable.
    fs::create_directories(dir_.Join("roots/fm"));
    WriteFashionSubset(dir_.Join("roots/fm"), "train", 300);
    WriteFashionSubset(dir_.Join("roots/fm"), "t10k", 100);
    fs::create_directories(dir_.Join("outside/secret"));
    WriteFile(dir_.Join("outside/secret/train-images-idx3-ubyte"), "x");
    fs::create_directory_symlink(dir_.Join("outside/secret"),
                                 dir_.Join("roots/escape"));
    auto server = testing::ServerProcess::Start(
        dir_.Join("data"), {"--data_roots=" + dir_.Join("roots")});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  CommandResult Cli(const std::string& args) {
    return testing::RunPrunectl(
        absl::StrCat("--server ", server_->grpc_address(), " ", args));
  }
  std::shared_ptr<grpc::Channel> Channel() {
    return client::MakeChannel(server_->grpc_address());
  }
  // Every path under the test directory outside data/ that the test did
  // not create itself.
  std::vector<std::string> StrayFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
      const std::string rel = fs::relative(e.path(), dir_.path()).string();
      if (rel.rfind("data", 0) == 0 || rel.rfind("roots", 0) == 0 ||
          rel.rfind("outside", 0) == 0 || rel.rfind("local", 0) == 0 ||
          rel.rfind("scratch", 0) == 0 || rel.rfind("vgg", 0) == 0 ||
          rel.rfind("tiny", 0) == 0) {
        continue;
      }
      out.push_back(rel);
    }
    return out;
  }
  v1::Job Submit(const std::string& calibration, grpc::Status* status) {
    grpc::ClientContext ctx;
    v1::SubmitJobRequest q;
    q.mutable_spec()->set_model_name("tiny");
    q.mutable_spec()->mutable_data()->set_calibration(calibration);
    q.mutable_spec()->mutable_data()->set_calibration_images(16);
    v1::SubmitJobResponse r;
    *status = v1::PruningJobs::NewStub(Channel())->SubmitJob(&ctx, q, &r);
    return r.job();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
};

TEST_F(DatasetsE2eTest, UploadEachFormatListShowRemove) {
  // Local directories as users have them.
  fs::create_directories(dir_.Join("local"));
  fs::copy(dir_.Join("roots/fm"), dir_.Join("local/fashion"));
  for (int i = 1; i <= 5; ++i) {
    WriteFile(dir_.Join("local/c10/data_batch_" + std::to_string(i) + ".bin"),
              testing::CifarRecords(10));
  }
  WriteFile(dir_.Join("local/c10/test_batch.bin"), testing::CifarRecords(10));
  WriteFile(dir_.Join("local/c100/train.bin"),
            testing::CifarRecords(200, true, 100));
  WriteFile(dir_.Join("local/c100/test.bin"),
            testing::CifarRecords(100, true, 100));
  for (const char* split : {"train", "val"}) {
    for (const char* cls : {"cat", "dog", "eel"}) {
      for (int i = 0; i < 2; ++i) {
        WriteFile(dir_.Join(absl::StrCat("local/pets/", split, "/", cls, "/", i,
                                         ".ppm")),
                  testing::PpmImage(12, 10));
      }
    }
  }
  WriteFile(dir_.Join("local/pets/README.txt"), "skipped by the client");

  for (const char* name : {"fashion", "c10", "c100", "pets"}) {
    CommandResult r =
        Cli(absl::StrCat("dataset upload ", dir_.Join("local/"), name));
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.output;
  }
  CommandResult r = Cli("--json dataset list");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto list = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(list["datasets"].size(), 4u) << r.output;
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& d : list["datasets"]) by_name[d["name"]] = d;
  EXPECT_EQ(by_name["fashion"]["format"], "DATASET_FORMAT_FASHION_MNIST");
  EXPECT_EQ(by_name["fashion"]["splits"][0]["images"], "300");
  EXPECT_EQ(by_name["fashion"]["splits"][1]["images"], "100");
  EXPECT_EQ(by_name["fashion"]["splits"][0]["classes"], "10");
  EXPECT_EQ(by_name["c10"]["splits"][0]["images"], "50");
  EXPECT_EQ(by_name["c100"]["splits"][0]["classes"], "100");
  EXPECT_EQ(by_name["pets"]["format"], "DATASET_FORMAT_IMAGEFOLDER");
  EXPECT_EQ(by_name["pets"]["splits"][0]["images"], "6");
  EXPECT_EQ(by_name["pets"]["splits"][0]["classes"], "3");
  EXPECT_EQ(by_name["pets"]["files"], "12");  // README.txt stayed home

  r = Cli("dataset show c10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("split train  50 images, 10 classes, 3x32x32"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("dataset:c10:1"), std::string::npos) << r.output;

  r = Cli("dataset rm c100");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("deleted 1 version(s) of c100"), std::string::npos);
  r = Cli("dataset show c100");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("NOT_FOUND"), std::string::npos) << r.output;
  // A wrong declared format is refused by the server's checks.
  r = Cli(absl::StrCat("dataset upload ", dir_.Join("local/c10"),
                       " --format cifar100 --name wrong"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("INVALID_ARGUMENT"), std::string::npos) << r.output;
}

TEST_F(DatasetsE2eTest, JobRunsOnAnUploadedDataSet) {
  const std::string model = dir_.Join("vgg.pt");
  CommandResult r = testing::RunPrunectl(absl::StrCat(
      "zoo build vgg11_bn --in-channels 1 --input-size 28 --width 0.25 "
      "--out ",
      model));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Cli(absl::StrCat("model upload ", model,
                       " --name vgg --input-shape 1,1,28,28"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::create_directories(dir_.Join("local"));
  fs::copy(dir_.Join("roots/fm"), dir_.Join("local/fm"));
  r = Cli(absl::StrCat("dataset upload ", dir_.Join("local/fm")));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const std::string flags =
      " --calib-images 64 --epochs 1 --policy uniform --criterion l1 "
      "--watch -q";
  r = Cli("job submit vgg --train dataset:fm --eval dataset:fm:test" + flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("registered vgg:2"), std::string::npos) << r.output;

  // A local directory is uploaded first (a new version, same content).
  // This job also distils, with its own weights.
  r = Cli(
      absl::StrCat("job submit vgg --train ", dir_.Join("local/fm"), " --eval ",
                   dir_.Join("local/fm"), flags,
                   " --distill --distill-alpha 0.7 --distill-temperature 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("registered vgg:3"), std::string::npos) << r.output;
  r = Cli("--json job get job-000002");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto job = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  const std::string train = job["spec"]["data"]["train"];
  const std::string eval = job["spec"]["data"]["eval"];
  EXPECT_EQ(
      train.rfind("fashion-mnist:" + dir_.Join("data/datasets/extracted/"), 0),
      0u)
      << train;
  EXPECT_EQ(eval.substr(eval.size() - 5), ":test") << eval;
  EXPECT_EQ(job["spec"]["finetune"]["distill"], true);
  EXPECT_DOUBLE_EQ(job["spec"]["finetune"]["distill_alpha"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(job["spec"]["finetune"]["distill_temperature"].get<double>(),
                   3.0);
  // Distillation weights without --distill name the field.
  r = Cli("job submit vgg --train dataset:fm --epochs 1 --distill-alpha 0.7");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("INVALID_ARGUMENT"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("finetune.distill_alpha: needs finetune.distill"),
            std::string::npos)
      << r.output;

  // While a job that reads the data set is queued or running, deleting it
  // is refused (1000 epochs: the job cannot end before the delete); once
  // the job is cancelled the delete goes through.
  r = Cli("job submit vgg --train dataset:fm --epochs 1000 --policy uniform");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string id = std::string(absl::StripAsciiWhitespace(r.output));
  r = Cli("dataset rm fm");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("FAILED_PRECONDITION"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("read by job " + id), std::string::npos) << r.output;
  r = Cli("dataset show fm");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = Cli("job cancel " + id);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Cli("job watch " + id + " -q");  // returns once the job has ended
  r = Cli("--json job get " + id);
  ASSERT_NE(r.output.find("JOB_STATE_CANCELLED"), std::string::npos)
      << r.output;
  r = Cli("dataset rm fm");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("deleted 2 version(s) of fm"), std::string::npos)
      << r.output;

  r = Cli("job submit vgg --train dataset:nope --epochs 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("NOT_FOUND"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data set nope not found"), std::string::npos)
      << r.output;
}

TEST_F(DatasetsE2eTest, HostileArchivesAreRefusedAndNothingEscapes) {
  fs::create_directories(dir_.Join("scratch"));
  client::DatasetClient datasets(Channel());
  struct Case {
    const char* name;
    v1::DatasetFormat format;
    std::string archive;
    grpc::StatusCode code;
  };
  const std::string ppm = testing::PpmImage(4, 4);
  const Case cases[] = {
      {"../x", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().File("cat/1.ppm", ppm).File("../x", "evil").Build(),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"../../../../x deep", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().File("cat/../../../../../x", "evil").Build(true),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"absolute", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().File(dir_.Join("abs_evil"), "evil").Build(),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"symlink", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().Symlink("cat", dir_.path()).File("cat/1.ppm", ppm).Build(),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"hard link", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder()
           .File("cat/1.ppm", ppm)
           .HardLink("cat/2.ppm", "/etc/passwd")
           .Build(),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"device", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().CharDevice("cat/null").Build(),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"10 GiB bomb", v1::DATASET_FORMAT_CIFAR10,
       testing::SparseBombTarGz(dir_.Join("scratch"), int64_t{10} << 30,
                                "test_batch.bin"),
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"not a tar", v1::DATASET_FORMAT_CIFAR10, std::string(5000, 'z'),
       grpc::StatusCode::INVALID_ARGUMENT},
  };
  const auto data_before = fs::space(dir_.path()).available;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::UploadDatasetHeader header;
    header.set_name("hostile");
    header.set_format(c.format);
    auto stored = datasets.UploadArchiveBytes(header, c.archive);
    ASSERT_FALSE(stored.ok());
    EXPECT_EQ(static_cast<int>(stored.status().code()),
              static_cast<int>(c.code))
        << stored.status();
    EXPECT_TRUE(StrayFiles().empty()) << StrayFiles()[0];
    EXPECT_FALSE(fs::exists("/x"));
    // Still serving, with nothing stored.
    auto list = datasets.List("");
    ASSERT_TRUE(list.ok()) << list.status();
    EXPECT_TRUE(list->empty());
  }
  EXPECT_TRUE(fs::is_empty(dir_.Join("data/datasets/extracted")));
  EXPECT_TRUE(fs::is_empty(dir_.Join("data/datasets/tmp")));
  // The bomb was refused before anything of it was written (10 GiB would
  // show; allow for unrelated writes on the machine).
  EXPECT_LT(static_cast<int64_t>(data_before) -
                static_cast<int64_t>(fs::space(dir_.path()).available),
            int64_t{1} << 30);
}

TEST_F(DatasetsE2eTest, ServerPathsOnlyInsideDataRoots) {
  const std::string model_file = dir_.Join("tiny.pt");
  testing::WriteTinyCnn(model_file);
  v1::UploadModelHeader header;
  header.set_name("tiny");
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int d : {1, 1, 28, 28}) header.add_example_input_shape(d);
  ASSERT_TRUE(
      client::RepositoryClient(Channel()).Upload(header, model_file).ok());

  grpc::Status status;
  v1::Job job =
      Submit("fashion-mnist:" + dir_.Join("roots/fm") + ":train", &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Stored resolved: the realpath of the directory.
  EXPECT_EQ(job.spec().data().calibration(),
            "fashion-mnist:" + fs::canonical(dir_.Join("roots/fm")).string() +
                ":train");

  // Each refusal says the same, whatever is (or is not) at the path.
  auto refusal = [&](const std::string& dir) {
    grpc::Status s;
    Submit("fashion-mnist:" + dir + ":train", &s);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << dir;
    return absl::StrReplaceAll(s.error_message(), {{dir, "PATH"}});
  };
  const std::string existing_outside = refusal(dir_.Join("outside/secret"));
  EXPECT_NE(existing_outside.find("--data_roots"), std::string::npos)
      << existing_outside;
  EXPECT_EQ(refusal(dir_.Join("outside/nothing-here")), existing_outside);
  EXPECT_EQ(refusal(dir_.Join("roots/../outside/secret")), existing_outside);
  EXPECT_EQ(refusal(dir_.Join("roots/escape")), existing_outside);
  EXPECT_EQ(refusal(dir_.Join("roots/missing")), existing_outside);
  EXPECT_EQ(refusal("/etc"), existing_outside);
  EXPECT_EQ(refusal("/no/such/dir"), existing_outside);
  // Stored data sets are names, not paths.
  Submit("dataset:absent", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  // Without --data_roots no server path is accepted at all.
  auto closed = testing::ServerProcess::Start(dir_.Join("data2"));
  ASSERT_TRUE(closed.ok()) << closed.status();
  ASSERT_TRUE(
      client::RepositoryClient(client::MakeChannel((*closed)->grpc_address()))
          .Upload(header, model_file)
          .ok());
  grpc::ClientContext ctx;
  v1::SubmitJobRequest q;
  q.mutable_spec()->set_model_name("tiny");
  q.mutable_spec()->mutable_data()->set_calibration(
      std::string("fashion-mnist:") + kFashion + ":train");
  v1::SubmitJobResponse r;
  status =
      v1::PruningJobs::NewStub(client::MakeChannel((*closed)->grpc_address()))
          ->SubmitJob(&ctx, q, &r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("without --data_roots"),
            std::string::npos)
      << status.error_message();
}

}  // namespace
}  // namespace pruneserve
