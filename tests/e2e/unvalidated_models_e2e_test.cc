// A data directory from a release that did not record validation, served by
// the real binary: its versions read "not yet validated", each is checked
// in the sandboxed validator before its first load, and the outcome is
// recorded. A hostile archive stored back then (aten::from_file in forward)
// is refused with FAILED_PRECONDITION naming the op, a good one loads and
// answers.
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/inference_client.h"
#include "client/repository_client.h"
#include "core/repository/model_repository.h"
#include "core/storage/model_metadata_store.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_model_inspector.h"
#include "tests/testing/hostile_models.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

// Stores `files` (name → path) the way an older release would have: with
// checks that let anything through and no validation recorded.
void WriteOldDataDir(
    const std::string& data_dir,
    const std::vector<std::pair<std::string, std::string>>& files) {
  {
    ModelRepository::InspectorMap inspectors;
    auto lax = std::make_unique<testing::FakeModelInspector>();
    lax->set_accept_all(true);
    inspectors[v1::MODEL_FORMAT_TORCHSCRIPT] = std::move(lax);
    ModelRepositoryOptions options;
    options.data_dir = data_dir;
    auto repo = ModelRepository::Create(options, std::move(inspectors),
                                        /*metrics=*/nullptr);
    ASSERT_TRUE(repo.ok()) << repo.status();
    for (const auto& [name, path] : files) {
      v1::UploadModelHeader header;
      header.set_name(name);
      header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
      for (int64_t d : {1, 1, 28, 28}) header.add_example_input_shape(d);
      auto stored = (*repo)->AddFile(header, path, v1::Lineage(), "");
      ASSERT_TRUE(stored.ok()) << stored.status();
    }
  }
  auto store = ModelMetadataStore::Create({data_dir + "/models.db"});
  ASSERT_TRUE(store.ok()) << store.status();
  for (const auto& file : files) {
    ASSERT_TRUE(
        (*store)
            ->SetValidation(file.first, 1, v1::MODEL_VALIDATION_UNSPECIFIED, "")
            .ok());
  }
}

TEST(UnvalidatedModelsE2eTest, CheckedInTheValidatorBeforeTheirFirstLoad) {
  testing::TempDir dir;
  testing::WriteTinyCnn(dir.Join("good.pt"));
  testing::WriteFromFileModel(dir.Join("from_file.pt"), "/etc/passwd");
  const std::string data_dir = dir.Join("data");
  WriteOldDataDir(data_dir, {{"good", dir.Join("good.pt")},
                             {"from_file", dir.Join("from_file.pt")}});
  if (HasFatalFailure()) return;

  auto server = testing::ServerProcess::Start(data_dir, {});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = client::MakeChannel((*server)->grpc_address());
  client::RepositoryClient repository(channel);
  client::InferenceClient inference(channel);
  EXPECT_EQ(repository.Get("good", 1)->validation(),
            v1::MODEL_VALIDATION_UNSPECIFIED);

  absl::Status refused = inference.Load("from_file", {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("from_file:1 failed the upload checks"),
            std::string::npos)
      << refused;
  EXPECT_NE(refused.message().find("forbidden op aten::from_file"),
            std::string::npos)
      << refused;
  auto hostile = repository.Get("from_file", 1);
  ASSERT_TRUE(hostile.ok()) << hostile.status();
  EXPECT_EQ(hostile->validation(), v1::MODEL_VALIDATION_FAILED);
  EXPECT_NE(hostile->validation_error().find("aten::from_file"),
            std::string::npos);
  // Refused again from the record.
  EXPECT_EQ(inference.Load("from_file", {}).code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(inference.Load("good", {}).ok());
  EXPECT_EQ(repository.Get("good", 1)->validation(),
            v1::MODEL_VALIDATION_PASSED);
  auto out = inference.Infer("good", 0, {1, 1, 28, 28},
                             std::vector<float>(28 * 28, 0.5f));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, (std::vector<int64_t>{1, 10}));
}

}  // namespace
}  // namespace pruneserve
