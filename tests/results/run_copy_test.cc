#include "results/run_copy.h"

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace fp4lab {
namespace {

using testing::ExpectSameRows;
using testing::Fields;
using testing::MakeRun;
using testing::MakeSample;
using testing::MakeTask;
using testing::TempDir;

// A shard file: one complete run with task mmlu/nvfp4, samples `first_item`..`first_item + 2`, a metric,
// a comparison and a layer map.
struct Shard {
  std::unique_ptr<ResultStore> store;
  int64_t run_id = 0;
};

Shard MakeShard(const std::string& path, int first_item, const std::string& task_version = "1") {
  Shard shard;
  shard.store = ResultStore::Open(path, OpenMode::kCreateOrOpen).value();
  shard.run_id = shard.store->CreateRun(MakeRun("plan-shards", "nightly")).value();
  TaskRecord task = MakeTask(shard.run_id, "mmlu", "nvfp4");
  task.version = task_version;
  EXPECT_TRUE(shard.store->UpsertTask(task).ok());
  std::vector<SampleRecord> samples;
  for (int i = first_item; i < first_item + 3; ++i) {
    samples.push_back(MakeSample(shard.run_id, "mmlu", "nvfp4", "q/" + std::to_string(i), i % 2));
  }
  EXPECT_TRUE(shard.store->WriteSamples(samples).ok());
  EXPECT_TRUE(shard.store
                  ->WriteLayerPrecisions({{.run_id = shard.run_id, .precision = "nvfp4", .layer = "l0",
                                           .scheme = "nvfp4", .reason = "quantized", .bytes = 64}})
                  .ok());
  MetricRecord acc = testing::MakeMetric(shard.run_id, "mmlu", "nvfp4", "acc", 0.33);
  ComparisonRecord cmp = testing::MakeComparison(shard.run_id, "mmlu", "nvfp4", "acc", "mcnemar_exact");
  EXPECT_TRUE(shard.store->CompleteTask(task, {acc}, {cmp}).ok());
  EXPECT_TRUE(shard.store->FinishRun(shard.run_id, RunStatus::kComplete, "2026-11-27T03:00:00Z").ok());
  return shard;
}

// The source rows as they should appear under `dst_run_id`.
template <typename Record>
std::vector<Record> Rebased(std::vector<Record> rows, int64_t dst_run_id) {
  for (Record& row : rows) row.run_id = dst_run_id;
  return rows;
}

TEST(RunCopyTest, CopyRunIntoCopiesRawRowsButNotMetrics) {
  TempDir dir;
  Shard shard = MakeShard(dir.File("shard0.sqlite"), 0);
  auto dst = ResultStore::Open(dir.File("merged.sqlite"), OpenMode::kCreateOrOpen);
  FP4LAB_ASSERT_OK(dst);
  FP4LAB_ASSERT_OK((*dst)->CreateRun(MakeRun("unrelated")));  // ids in dst differ from ids in the shard

  auto copied = CopyRunInto(*shard.store, shard.run_id, **dst);
  FP4LAB_ASSERT_OK(copied);
  EXPECT_NE(*copied, shard.run_id);

  RunRecord expected_run = shard.store->GetRun(shard.run_id).value();
  expected_run.id = *copied;
  expected_run.status = RunStatus::kRunning;  // complete again only after merge recomputes metrics
  expected_run.finished_at = "";
  EXPECT_EQ(Fields((*dst)->GetRun(*copied).value()), Fields(expected_run));

  std::vector<TaskRecord> expected_tasks = Rebased(shard.store->ListTasks(shard.run_id).value(), *copied);
  expected_tasks[0].complete = false;
  ExpectSameRows((*dst)->ListTasks(*copied).value(), expected_tasks);
  ExpectSameRows((*dst)->ListSamples(*copied, "", "").value(),
                 Rebased(shard.store->ListSamples(shard.run_id, "", "").value(), *copied));
  ExpectSameRows((*dst)->ListLayerPrecisions(*copied).value(),
                 Rebased(shard.store->ListLayerPrecisions(shard.run_id).value(), *copied));
  EXPECT_TRUE((*dst)->ListMetrics(*copied).value().empty());
  EXPECT_TRUE((*dst)->ListComparisons(*copied).value().empty());
}

TEST(RunCopyTest, AppendRunIntoMergesShardsIdempotently) {
  TempDir dir;
  Shard shard0 = MakeShard(dir.File("shard0.sqlite"), 0);
  Shard shard1 = MakeShard(dir.File("shard1.sqlite"), 3);
  auto dst = ResultStore::Open(dir.File("merged.sqlite"), OpenMode::kCreateOrOpen);
  FP4LAB_ASSERT_OK(dst);
  const int64_t merged = CopyRunInto(*shard0.store, shard0.run_id, **dst).value();
  FP4LAB_ASSERT_OK(AppendRunInto(*shard1.store, shard1.run_id, **dst, merged));
  FP4LAB_ASSERT_OK(AppendRunInto(*shard1.store, shard1.run_id, **dst, merged));  // again: no change

  EXPECT_EQ((*dst)->StoredSampleIds(merged, "mmlu", "nvfp4").value(),
            (std::set<std::string>{"q/0", "q/1", "q/2", "q/3", "q/4", "q/5"}));
  EXPECT_EQ((*dst)->ListTasks(merged).value().size(), 1u);
  EXPECT_EQ((*dst)->ListLayerPrecisions(merged).value().size(), 1u);
  EXPECT_EQ((*dst)->ListRuns().value().size(), 1u);
}

TEST(RunCopyTest, AppendMarksACompletedTaskIncompleteAgain) {
  TempDir dir;
  Shard shard0 = MakeShard(dir.File("shard0.sqlite"), 0);
  Shard shard1 = MakeShard(dir.File("shard1.sqlite"), 3);
  auto dst = ResultStore::Open(dir.File("merged.sqlite"), OpenMode::kCreateOrOpen);
  FP4LAB_ASSERT_OK(dst);
  const int64_t merged = CopyRunInto(*shard0.store, shard0.run_id, **dst).value();
  FP4LAB_ASSERT_OK((*dst)->CompleteTask((*dst)->ListTasks(merged).value()[0], {}, {}));
  ASSERT_TRUE((*dst)->ListTasks(merged).value()[0].complete);
  FP4LAB_ASSERT_OK(AppendRunInto(*shard1.store, shard1.run_id, **dst, merged));
  EXPECT_FALSE((*dst)->ListTasks(merged).value()[0].complete);
}

TEST(RunCopyTest, ShardsOfDifferentPlansAreRefusedAtomically) {
  TempDir dir;
  Shard shard0 = MakeShard(dir.File("shard0.sqlite"), 0);
  Shard other = MakeShard(dir.File("other.sqlite"), 3, /*task_version=*/"2");
  auto dst = ResultStore::Open(dir.File("merged.sqlite"), OpenMode::kCreateOrOpen);
  FP4LAB_ASSERT_OK(dst);
  const int64_t merged = CopyRunInto(*shard0.store, shard0.run_id, **dst).value();

  Status status = AppendRunInto(*other.store, other.run_id, **dst, merged);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("different plans"), std::string::npos) << status.message();
  EXPECT_EQ((*dst)->ListSamples(merged, "", "").value().size(), 3u);  // nothing of the refused shard
}

TEST(RunCopyTest, MissingRunsAreNotFound) {
  TempDir dir;
  Shard shard = MakeShard(dir.File("shard0.sqlite"), 0);
  auto dst = ResultStore::Open(dir.File("merged.sqlite"), OpenMode::kCreateOrOpen);
  FP4LAB_ASSERT_OK(dst);
  EXPECT_EQ(CopyRunInto(*shard.store, 99, **dst).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(AppendRunInto(*shard.store, shard.run_id, **dst, 99).code(), StatusCode::kNotFound);
  EXPECT_TRUE((*dst)->ListRuns().value().empty());
}

}  // namespace
}  // namespace fp4lab
