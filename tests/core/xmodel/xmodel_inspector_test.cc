// The xmodel inspector on its own and behind the real ModelRepository: valid
// compiled graphs are stored with their facts recorded; empty files, garbage
// and uncompiled graphs are rejected with nothing stored.
#include "core/xmodel/xmodel_inspector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/repository/model_repository.h"
#include "tests/core/xmodel/sample_xmodel.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using xmodel::testing::SampleGraph;

std::string WriteFile(const pruneserve::testing::TempDir& dir,
                      const std::string& name, const std::string& bytes) {
  const std::string path = dir.Join(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(XmodelInspectorTest, RecordsFactsOfACompiledModel) {
  pruneserve::testing::TempDir dir;
  const std::string path =
      WriteFile(dir, "a.xmodel", SampleGraph().SerializeAsString());
  v1::ModelVersion model;
  ASSERT_TRUE(XmodelInspector().Inspect(path, &model).ok());
  EXPECT_EQ(model.parameter_count(), 152);
  EXPECT_EQ(model.parameter_bytes(), 152);
  EXPECT_EQ(model.forward_input_count(), 1);
  EXPECT_THAT(model.output_shape(), ElementsAre(1, 10));
  EXPECT_THAT(model.description(), HasSubstr("'tiny_cnn': 6 ops"));
  EXPECT_THAT(model.description(), HasSubstr("1 DPU subgraph(s) of 2"));
  EXPECT_THAT(model.description(), HasSubstr("input [1,28,28,1]"));

  // A client's description wins.
  v1::ModelVersion described;
  described.set_description("mine");
  ASSERT_TRUE(XmodelInspector().Inspect(path, &described).ok());
  EXPECT_EQ(described.description(), "mine");
}

TEST(XmodelInspectorTest, ChecksTheExampleInputShape) {
  pruneserve::testing::TempDir dir;
  const std::string path =
      WriteFile(dir, "a.xmodel", SampleGraph().SerializeAsString());
  for (const std::vector<int64_t>& ok : {std::vector<int64_t>{1, 28, 28, 1},
                                         std::vector<int64_t>{4, 1, 28, 28}}) {
    v1::ModelVersion model;
    for (int64_t d : ok) model.add_example_input_shape(d);
    EXPECT_TRUE(XmodelInspector().Inspect(path, &model).ok());
  }
  v1::ModelVersion wrong;
  for (int64_t d : {1, 3, 32, 32}) wrong.add_example_input_shape(d);
  absl::Status s = XmodelInspector().Inspect(path, &wrong);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("[1,3,32,32]"));
  EXPECT_THAT(s.message(), HasSubstr("[1,28,28,1]"));
}

TEST(XmodelInspectorTest, RejectsUncompiledGraphsUnlessAllowed) {
  pruneserve::testing::TempDir dir;
  const std::string path = WriteFile(
      dir, "q.xmodel", SampleGraph(/*dpu=*/false).SerializeAsString());
  v1::ModelVersion model;
  absl::Status s = XmodelInspector().Inspect(path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("no DPU subgraph"));
  EXPECT_THAT(s.message(), HasSubstr("vai_c_xir"));

  XmodelInspectorOptions lenient;
  lenient.require_dpu_subgraph = false;
  EXPECT_TRUE(XmodelInspector(lenient).Inspect(path, &model).ok());
}

class XmodelUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelRepository::InspectorMap inspectors;
    inspectors[v1::MODEL_FORMAT_XMODEL] = std::make_unique<XmodelInspector>();
    ModelRepositoryOptions options;
    options.data_dir = dir_.path();
    auto repo = ModelRepository::Create(options, std::move(inspectors),
                                        /*metrics=*/nullptr);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
  }

  absl::StatusOr<v1::ModelVersion> Upload(const std::string& bytes) {
    v1::UploadModelHeader header;
    header.set_name("tiny");
    header.set_format(v1::MODEL_FORMAT_XMODEL);
    auto session = repo_->BeginUpload(header);
    if (!session.ok()) return session.status();
    for (size_t i = 0; i < bytes.size(); i += 64) {
      absl::Status s =
          (*session)->Append(absl::string_view(bytes).substr(i, 64));
      if (!s.ok()) return s;
    }
    return (*session)->Commit();
  }

  size_t BlobFiles() const {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(
             dir_.path() + "/blobs", ec)) {
      n += e.is_regular_file();
    }
    return n;
  }

  pruneserve::testing::TempDir dir_;
  std::unique_ptr<ModelRepository> repo_;
};

TEST_F(XmodelUploadTest, StoresAValidXmodel) {
  const std::string bytes = SampleGraph().SerializeAsString();
  auto m = Upload(bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->version(), 1);
  EXPECT_EQ(m->format(), v1::MODEL_FORMAT_XMODEL);
  EXPECT_EQ(m->size_bytes(), static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(m->parameter_count(), 152);
  EXPECT_THAT(m->output_shape(), ElementsAre(1, 10));
  auto stored = repo_->GetModel("tiny", 1);
  ASSERT_TRUE(stored.ok());
  EXPECT_THAT(stored->description(), HasSubstr("DPU subgraph"));
  std::ifstream in(repo_->BlobPath(*stored), std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, bytes);
}

TEST_F(XmodelUploadTest, RejectsGarbageAndEmptyWithNothingStored) {
  for (const std::string& bytes :
       {std::string("bad bytes"), std::string(),
        SampleGraph(/*dpu=*/false).SerializeAsString()}) {
    auto m = Upload(bytes);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument)
        << bytes.size() << " bytes: " << m.status();
  }
  EXPECT_TRUE(repo_->ListModels("")->empty());
  EXPECT_EQ(BlobFiles(), 0u);
}

}  // namespace
}  // namespace pruneserve
