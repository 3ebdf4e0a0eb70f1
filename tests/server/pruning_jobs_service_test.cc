// PruningJobs over real gRPC on loopback against an in-process server: the
// status codes each RPC answers bad requests with.
#include <grpcpp/grpcpp.h>

#include "client/job_client.h"
#include "gtest/gtest.h"
#include "tests/server/server_fixture.h"

namespace pruneserve {
namespace {

class PruningJobsServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    StartServer({});
    UploadTinyCnn({1, 1, 8, 8});
    jobs_ = std::make_unique<client::JobClient>(channel_);
  }

  std::unique_ptr<client::JobClient> jobs_;
};

TEST_F(PruningJobsServiceTest, BadSubmissionsAreRefusedWithTheirCode) {
  v1::JobSpec spec;
  EXPECT_EQ(jobs_->Submit(spec).status().code(),
            absl::StatusCode::kInvalidArgument);  // no model name
  spec.set_model_name("nosuch");
  EXPECT_EQ(jobs_->Submit(spec).status().code(), absl::StatusCode::kNotFound);
  spec.set_model_name("tiny");
  spec.mutable_finetune()->set_epochs(3);  // but no training data
  auto refused = jobs_->Submit(spec);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("data.train"), std::string::npos);
  // Nothing was stored.
  auto list = jobs_->List(v1::JOB_STATE_UNSPECIFIED, 0, "");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->jobs_size(), 0);
}

TEST_F(PruningJobsServiceTest, UnknownJobsAreNotFound) {
  EXPECT_EQ(jobs_->Get("job-000404").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs_->Cancel("job-000404").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs_->Watch("job-000404", {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      jobs_->List(v1::JOB_STATE_UNSPECIFIED, 5, "garbage").status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs_->List(v1::JOB_STATE_UNSPECIFIED, 5000, "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PruningJobsServiceTest, DataFreeJobRunsAndRegistersAVersion) {
  // Uniform L1 pruning without fine-tuning needs no data at all.
  v1::JobSpec spec;
  spec.set_model_name("tiny");
  spec.mutable_pruning()->set_policy("uniform");
  spec.mutable_pruning()->set_criterion("l1");
  auto job = jobs_->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  std::vector<v1::JobState> states;
  auto final = jobs_->Watch(job->id(), [&](const v1::Job& j) {
    if (states.empty() || states.back() != j.state())
      states.push_back(j.state());
    return true;
  });
  ASSERT_TRUE(final.ok()) << final.status();
  EXPECT_EQ(final->state(), v1::JOB_STATE_SUCCEEDED) << final->error_message();
  EXPECT_EQ(states.back(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(final->result_model_name(), "tiny");
  EXPECT_EQ(final->result_model_version(), 2);
  EXPECT_EQ(final->spec().pruning().min_channels(), 2);  // defaults stored
  EXPECT_LT(final->report().final().params(),
            final->report().baseline().params());
  client::RepositoryClient repo(channel_);
  auto model = repo.Get("tiny", 2);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->lineage().job_id(), job->id());
}

}  // namespace
}  // namespace pruneserve
