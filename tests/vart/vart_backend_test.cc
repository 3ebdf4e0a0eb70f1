// The VART backend in-process against the real runtime: runners come from
// vart::Runner::create_runner_with_attrs with the "lib" attrs pointing at
// libpruneserve-reference-runner.so, which computes the INT8 reference of
// the fixture's ops. Checks the specs (NCHW for images), every returned
// value for batches that are not multiples of the runner batch, RunnerExt
// and plain runners, and the errors for failing, hanging, unloadable and
// missing runners, for unreadable files and for xmodels the backend does
// not serve.
#include "core/inference/vart/vart_backend.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <xir/graph/graph.hpp>

#include "core/inference/vart/vart_backend_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/vart/vart_fixtures.h"

namespace pruneserve::inference {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kImageC;
using testing::kImageH;
using testing::kImageW;
using testing::kVectorLen;

HostTensor Float(const std::string& name, std::vector<int64_t> shape,
                 const std::vector<float>& values) {
  HostTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.bytes.assign(reinterpret_cast<const char*>(values.data()),
                 values.size() * sizeof(float));
  return t;
}

std::vector<float> Values(const HostTensor& t) {
  std::vector<float> v(t.bytes.size() / sizeof(float));
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

class VartBackendTest : public ::testing::Test {
 protected:
  // Writes the multi fixture with `fixture` and creates a backend whose DPU
  // runner library is the reference runner.
  absl::StatusOr<std::unique_ptr<VartBackend>> Make(
      const testing::VartFixtureOptions& fixture, int timeout_ms = 10000) {
    const std::string path = dir_.Join("m" + std::to_string(++count_));
    absl::Status written = testing::WriteMultiFixture(path, fixture);
    if (!written.ok()) return written;
    VartBackendOptions options;
    options.xmodel_path = path;
    options.job_timeout_ms = timeout_ms;
    options.runner_libs = {{"DPU", PRUNESERVE_REFERENCE_RUNNER}};
    return VartBackend::Create(options);
  }

  // Runs `rows` rows through a new session and compares every value.
  void ExpectExactOutputs(VartBackend& backend, int64_t rows, int seed) {
    auto session = backend.CreateSession();
    ASSERT_TRUE(session.ok()) << session.status();
    const std::vector<float> image =
        testing::FixtureValues(rows * kImageC * kImageH * kImageW, seed);
    const std::vector<float> vector =
        testing::FixtureValues(rows * kVectorLen, seed + 1000);
    auto out = (*session)->Run(
        {Float("image", {rows, kImageC, kImageH, kImageW}, image),
         Float("vector", {rows, kVectorLen}, vector)});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), 3u);
    const testing::MultiExpected want =
        testing::ExpectedMulti(image, vector, rows);
    EXPECT_EQ((*out)[0].name, "biased");
    EXPECT_THAT((*out)[0].shape, ElementsAre(rows, kVectorLen));
    EXPECT_EQ(Values((*out)[0]), want.biased) << "rows " << rows;
    EXPECT_EQ((*out)[1].name, "channel_max");
    EXPECT_THAT((*out)[1].shape, ElementsAre(rows, kImageC));
    EXPECT_EQ(Values((*out)[1]), want.channel_max) << "rows " << rows;
    EXPECT_EQ((*out)[2].name, "copy");
    EXPECT_THAT((*out)[2].shape, ElementsAre(rows, kImageC, kImageH, kImageW));
    EXPECT_EQ(Values((*out)[2]), want.copy) << "rows " << rows;
  }

  testing::TempDir dir_;
  int count_ = 0;
};

TEST_F(VartBackendTest, SpecsAreTheRunnerTensorsInClientLayout) {
  auto backend = Make({});
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->runner_batch(), 3);
  EXPECT_EQ((*backend)->runner_library(), PRUNESERVE_REFERENCE_RUNNER);
  EXPECT_EQ((*backend)->platform(), "vitis_ai_xmodel");
  ASSERT_EQ((*backend)->inputs().size(), 2u);
  EXPECT_EQ((*backend)->inputs()[0].name, "image");
  EXPECT_THAT((*backend)->inputs()[0].shape,
              ElementsAre(-1, kImageC, kImageH, kImageW));
  EXPECT_EQ((*backend)->inputs()[1].name, "vector");
  EXPECT_THAT((*backend)->inputs()[1].shape, ElementsAre(-1, kVectorLen));
  ASSERT_EQ((*backend)->outputs().size(), 3u);
  EXPECT_THAT((*backend)->outputs()[1].shape, ElementsAre(-1, kImageC));
}

TEST_F(VartBackendTest, EveryValueMatchesTheReferenceForOddBatches) {
  for (int runner_batch : {1, 3, 4}) {
    testing::VartFixtureOptions fixture;
    fixture.runner_batch = runner_batch;
    auto backend = Make(fixture);
    ASSERT_TRUE(backend.ok()) << backend.status();
    for (int64_t rows : {1, 2, 3, 5, 7, 8}) {
      SCOPED_TRACE("runner batch " + std::to_string(runner_batch));
      ExpectExactOutputs(**backend, rows, static_cast<int>(rows));
    }
  }
}

TEST_F(VartBackendTest, PlainRunnerWithoutRunnerExtGivesTheSameValues) {
  testing::VartFixtureOptions fixture;
  fixture.runner_ext = false;
  auto backend = Make(fixture);
  ASSERT_TRUE(backend.ok()) << backend.status();
  ExpectExactOutputs(**backend, 7, 42);
}

TEST_F(VartBackendTest, TheReferenceIsNotTrivial) {
  // Values where rounding, saturation and the weights all show.
  auto backend = Make({});
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto session = (*backend)->CreateSession();
  ASSERT_TRUE(session.ok());
  std::vector<float> image(kImageC * kImageH * kImageW, 0.0f);
  image[0] = 100.0f;     // channel 0, saturates at 127/16
  image[12] = -0.5f;     // channel 1 (h 0, w 0)
  image[13] = 0.03125f;  // 1/32: a tie at fix_point 4, rounds up to 1/16
  auto out = (*session)->Run(
      {Float("image", {1, kImageC, kImageH, kImageW}, image),
       Float("vector", {1, kVectorLen}, {1.0f, 0.125f, -0.125f, 20.0f, 0})});
  ASSERT_TRUE(out.ok()) << out.status();
  // biased = vector (eighths, 20 saturates at 127/8) + weights / 8, to
  // quarters with ties up: 1 - 7/8 = 1/8 -> 1/4; 1/8 + 0 -> 1/4;
  // -1/8 + 5/8 = 1/2; 127/8 + 100/8 = 28.375 -> 28.5; 0 - 128/8 = -16.
  EXPECT_THAT(Values((*out)[0]),
              ElementsAre(0.25f, 0.25f, 0.5f, 28.5f, -16.0f));
  EXPECT_THAT(Values((*out)[1]), ElementsAre(127.0f / 16, 0.0625f));
  const std::vector<float> copy = Values((*out)[2]);
  EXPECT_EQ(copy[0], 127.0f / 16 + 1.0f / 16);  // 127/16 to eighths, up
  EXPECT_EQ(copy[12], -0.5f);
  EXPECT_EQ(copy[13], 0.125f);  // 1/16 to eighths is a tie, up
}

TEST_F(VartBackendTest, FailingJobIsInternalAndTheSessionCarriesOn) {
  testing::VartFixtureOptions fixture;
  fixture.behaviour = "fail";
  auto backend = Make(fixture);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto session = (*backend)->CreateSession();
  ASSERT_TRUE(session.ok());
  const std::vector<HostTensor> inputs = {
      Float("image", {1, kImageC, kImageH, kImageW},
            std::vector<float>(kImageC * kImageH * kImageW, 1.0f)),
      Float("vector", {1, kVectorLen}, std::vector<float>(kVectorLen, 1.0f))};
  for (int i = 0; i < 2; ++i) {
    auto out = (*session)->Run(inputs);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(out.status().message(), HasSubstr("wait status 1"));
  }
}

TEST_F(VartBackendTest, HangingJobEndsAtTheTimeout) {
  testing::VartFixtureOptions fixture;
  fixture.behaviour = "hang";
  auto backend = Make(fixture, /*timeout_ms=*/50);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto session = (*backend)->CreateSession();
  ASSERT_TRUE(session.ok());
  auto out = (*session)->Run(
      {Float("image", {2, kImageC, kImageH, kImageW},
             std::vector<float>(2 * kImageC * kImageH * kImageW, 1.0f)),
       Float("vector", {2, kVectorLen},
             std::vector<float>(2 * kVectorLen, 1.0f))});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(), HasSubstr("exceeded 50 ms"));
  EXPECT_THAT(out.status().message(), HasSubstr("wait status -1"));
}

TEST_F(VartBackendTest, RunnerThatThrowsAtCreationIsInternal) {
  testing::VartFixtureOptions fixture;
  fixture.behaviour = "fail_create";
  auto backend = Make(fixture);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(backend.status().message(),
              HasSubstr("told to fail at creation"));
}

TEST_F(VartBackendTest, WrongInputShapeIsInvalidArgument) {
  auto backend = Make({});
  ASSERT_TRUE(backend.ok());
  auto session = (*backend)->CreateSession();
  ASSERT_TRUE(session.ok());
  auto out = (*session)->Run(
      {Float("image", {1, kImageH, kImageW, kImageC},  // NHWC, not NCHW
             std::vector<float>(kImageC * kImageH * kImageW, 1.0f)),
       Float("vector", {1, kVectorLen}, std::vector<float>(kVectorLen))});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("input image has shape"));
}

TEST_F(VartBackendTest, UnopenableRunnerLibraryIsFailedPrecondition) {
  // Without the override the subgraph's libvart-dpu-runner.so is used; this
  // runtime was built without it, and VART would abort on it.
  const std::string path = dir_.Join("default.xmodel");
  ASSERT_TRUE(testing::WriteMultiFixture(path, {}).ok());
  VartBackendOptions options;
  options.xmodel_path = path;
  auto backend = VartBackend::Create(options);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(backend.status().message(),
              HasSubstr("runner library libvart-dpu-runner.so for device DPU "
                        "cannot be opened"));

  options.runner_libs = {{"DPU", dir_.Join("missing.so")}};
  backend = VartBackend::Create(options);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(VartBackendTest, LibraryWithoutTheFactoryIsFailedPrecondition) {
  const std::string path = dir_.Join("m.xmodel");
  ASSERT_TRUE(testing::WriteMultiFixture(path, {}).ok());
  VartBackendOptions options;
  options.xmodel_path = path;
  options.runner_libs = {{"DPU", "libvart-util.so"}};
  auto backend = VartBackend::Create(options);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(backend.status().message(),
              HasSubstr("does not export create_runner_with_attrs"));
}

TEST_F(VartBackendTest, TwoDpuSubgraphsAreFailedPrecondition) {
  testing::VartFixtureOptions fixture;
  fixture.dpu_subgraphs = 2;
  auto backend = Make(fixture);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(backend.status().message(), HasSubstr("has 2 DPU subgraphs"));
}

TEST_F(VartBackendTest, MissingFileIsNotFound) {
  VartBackendOptions options;
  options.xmodel_path = dir_.Join("absent.xmodel");
  EXPECT_EQ(VartBackend::Create(options).status().code(),
            absl::StatusCode::kNotFound);
}

// Writes `bytes` to `path`.
void WriteBytes(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  fclose(f);
}

// The real runtime aborts the process (glog FATAL) on bytes that are not an
// XIR graph instead of throwing, so the backend runs core/xmodel's reader
// first and answers INVALID_ARGUMENT before XIR sees the file; this process
// survives to make the next call.
TEST_F(VartBackendTest, UnreadableBytesAreInvalidArgument) {
  const std::string junk = dir_.Join("junk.xmodel");
  WriteBytes(junk, "not a graph");
  VartBackendOptions options;
  options.xmodel_path = junk;
  options.runner_libs = {{"DPU", PRUNESERVE_REFERENCE_RUNNER}};
  auto backend = VartBackend::Create(options);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(backend.status().message(),
              HasSubstr("xmodel " + junk + " cannot be loaded"));
  EXPECT_THAT(backend.status().message(), HasSubstr("XIR graph"));

  const std::string empty = dir_.Join("empty.xmodel");
  WriteBytes(empty, "");
  options.xmodel_path = empty;
  backend = VartBackend::Create(options);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(backend.status().message(), HasSubstr("empty"));

  // A valid fixture cut short: the first half of a real graph.
  const std::string good = dir_.Join("good.xmodel");
  ASSERT_TRUE(testing::WriteMultiFixture(good, {}).ok());
  FILE* f = fopen(good.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string bytes(1 << 20, '\0');
  bytes.resize(fread(bytes.data(), 1, bytes.size(), f));
  fclose(f);
  ASSERT_GT(bytes.size(), 100u);
  const std::string cut = dir_.Join("cut.xmodel");
  WriteBytes(cut, bytes.substr(0, bytes.size() / 2));
  options.xmodel_path = cut;
  backend = VartBackend::Create(options);
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(backend.status().message(), HasSubstr(cut));

  // The same process still loads the whole file.
  options.xmodel_path = good;
  backend = VartBackend::Create(options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->inputs().size(), 2u);
}

// Why the check above is needed: given the same bytes, XIR itself aborts
// the process rather than throwing.
TEST(XirDeserializeTest, AbortsOnAFileItCannotRead) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  pruneserve::testing::TempDir dir;
  const std::string path = dir.Join("junk.xmodel");
  WriteBytes(path, "not a graph");
  EXPECT_DEATH((void)xir::Graph::deserialize(path), "XIR_READ_PB_FAILURE");
}

TEST(ParseVartRunnerLibsTest, EntriesBecomeADeviceMap) {
  auto libs = ParseVartRunnerLibs({"DPU=/x/librunner.so", "CPU=libcpu.so"});
  ASSERT_TRUE(libs.ok());
  EXPECT_EQ(*libs, (std::map<std::string, std::string>{
                       {"CPU", "libcpu.so"}, {"DPU", "/x/librunner.so"}}));
  EXPECT_TRUE(ParseVartRunnerLibs({})->empty());
  for (const char* bad : {"DPU", "=lib.so", "DPU=", ""}) {
    EXPECT_EQ(ParseVartRunnerLibs({bad}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  auto repeated = ParseVartRunnerLibs({"DPU=a.so", "DPU=b.so"});
  EXPECT_THAT(repeated.status().message(), HasSubstr("repeats device DPU"));
}

}  // namespace
}  // namespace pruneserve::inference
