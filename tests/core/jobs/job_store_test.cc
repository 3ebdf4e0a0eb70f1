#include "core/jobs/job_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <set>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::jobs {
namespace {

v1::Job Queued(const std::string& model) {
  v1::Job job;
  job.set_state(v1::JOB_STATE_QUEUED);
  job.mutable_spec()->set_model_name(model);
  return job;
}

// Overwrites the stored record of `id` with bytes that do not parse, as a
// torn write or a damaged file would leave them.
void CorruptRecord(const std::string& db_path, const std::string& id) {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  db.setBusyTimeout(5000);
  SQLite::Statement q(db, "UPDATE jobs SET job = x'ffffffff' WHERE id = ?");
  q.bind(1, id);
  ASSERT_EQ(q.exec(), 1);
}

TEST(JobStoreTest, InsertAssignsIncreasingIdsThatSurviveReopen) {
  testing::TempDir dir;
  const std::string path = dir.Join("jobs.db");
  {
    auto store = JobStore::Create({path});
    ASSERT_TRUE(store.ok()) << store.status();
    auto a = (*store)->Insert(Queued("a"));
    auto b = (*store)->Insert(Queued("b"));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->id(), "job-000001");
    EXPECT_EQ(b->id(), "job-000002");
  }
  auto store = JobStore::Create({path});
  ASSERT_TRUE(store.ok());
  auto c = (*store)->Insert(Queued("c"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->id(), "job-000003");
  auto a = (*store)->Get("job-000001");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->spec().model_name(), "a");
}

TEST(JobStoreTest, UpdateReplacesRecordAndState) {
  testing::TempDir dir;
  auto store = *JobStore::Create({dir.Join("jobs.db")});
  v1::Job job = *store->Insert(Queued("m"));
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  job.set_result_model_version(7);
  ASSERT_TRUE(store->Update(job).ok());
  auto got = store->Get(job.id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(got->result_model_version(), 7);
  auto unfinished = store->ListUnfinished();
  ASSERT_TRUE(unfinished.ok());
  EXPECT_TRUE(unfinished->empty());

  v1::Job ghost = job;
  ghost.set_id("job-999999");
  EXPECT_EQ(store->Update(ghost).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Get("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(JobStoreTest, ListPagesNewestFirstAndFiltersByState) {
  testing::TempDir dir;
  auto store = *JobStore::Create({dir.Join("jobs.db")});
  for (int i = 0; i < 5; ++i) {
    v1::Job job = *store->Insert(Queued("m"));
    if (i % 2 == 1) {
      job.set_state(v1::JOB_STATE_FAILED);
      ASSERT_TRUE(store->Update(job).ok());
    }
  }
  auto first = store->List(v1::JOB_STATE_UNSPECIFIED, 2, "");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->jobs.size(), 2u);
  EXPECT_EQ(first->jobs[0].id(), "job-000005");
  EXPECT_EQ(first->jobs[1].id(), "job-000004");
  ASSERT_FALSE(first->next_page_token.empty());
  std::set<std::string> seen;
  std::string token = first->next_page_token;
  for (const auto& j : first->jobs) seen.insert(j.id());
  while (!token.empty()) {
    auto page = store->List(v1::JOB_STATE_UNSPECIFIED, 2, token);
    ASSERT_TRUE(page.ok());
    for (const auto& j : page->jobs) seen.insert(j.id());
    token = page->next_page_token;
  }
  EXPECT_EQ(seen.size(), 5u);

  auto failed = store->List(v1::JOB_STATE_FAILED, 10, "");
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->jobs.size(), 2u);
  EXPECT_EQ(failed->jobs[0].id(), "job-000004");
  EXPECT_TRUE(failed->next_page_token.empty());

  auto counts = store->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[v1::JOB_STATE_QUEUED], 3);
  EXPECT_EQ((*counts)[v1::JOB_STATE_FAILED], 2);

  EXPECT_EQ(store->List(v1::JOB_STATE_UNSPECIFIED, 0, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->List(v1::JOB_STATE_UNSPECIFIED, 5, "x1").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// One unreadable record used to fail ListUnfinished() (and so the server's
// start) and every listing that reached it.
TEST(JobStoreTest, UnreadableRecordIsFailedNotFatal) {
  testing::TempDir dir;
  const std::string path = dir.Join("jobs.db");
  auto store = *JobStore::Create({path});
  ASSERT_TRUE(store->Insert(Queued("a")).ok());
  ASSERT_TRUE(store->Insert(Queued("b")).ok());
  ASSERT_TRUE(store->Insert(Queued("c")).ok());
  CorruptRecord(path, "job-000002");

  auto unfinished = store->ListUnfinished();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status();
  ASSERT_EQ(unfinished->size(), 2u);
  EXPECT_EQ((*unfinished)[0].id(), "job-000001");
  EXPECT_EQ((*unfinished)[1].id(), "job-000003");

  auto bad = store->Get("job-000002");
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(bad->error_code(), static_cast<int>(absl::StatusCode::kDataLoss));
  EXPECT_NE(bad->error_message().find("job-000002"), std::string::npos);
  // Marked FAILED in the state column too: no longer unfinished.
  EXPECT_EQ(store->CountByState()->at(v1::JOB_STATE_FAILED), 1);
  EXPECT_EQ(store->ListUnfinished()->size(), 2u);

  auto page = store->List(v1::JOB_STATE_UNSPECIFIED, 10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 3u);
  EXPECT_EQ(page->jobs[1].id(), "job-000002");
  EXPECT_EQ(page->jobs[1].state(), v1::JOB_STATE_FAILED);
}

}  // namespace
}  // namespace pruneserve::jobs
