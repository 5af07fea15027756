#include "results/result_store.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include <gtest/gtest.h>

#include "results/schema.h"
#include "store_test_util.h"

namespace fp4lab {
namespace {

using testing::ExpectSameRows;
using testing::Fields;
using testing::MakeComparison;
using testing::MakeMetric;
using testing::MakeRun;
using testing::MakeSample;
using testing::MakeTask;
using testing::TempDir;

class ResultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = ResultStore::Open(path_, OpenMode::kCreateOrOpen);
    FP4LAB_ASSERT_OK(store);
    store_ = std::move(store).value();
  }

  // Creates a run (no tasks) and returns its id.
  int64_t NewRun(const std::string& plan_key = "plan-a", const std::string& tag = "") {
    auto id = store_->CreateRun(MakeRun(plan_key, tag));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : -1;
  }

  TempDir dir_;
  std::string path_ = dir_.File("results.sqlite");
  std::unique_ptr<ResultStore> store_;
};

TEST_F(ResultStoreTest, NewFileHasNewestSchema) {
  EXPECT_EQ(store_->SchemaVersion(), kSchemaVersion);
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(ResultStoreTest, EveryRecordTypeRoundTripsThroughTheFile) {
  RunRecord run = MakeRun("plan-rt", "nightly");
  run.provenance["command_line"] = "fp4lab run --tag nightly \"quoted\" \xc3\xa9";
  auto run_id = store_->CreateRun(run);
  FP4LAB_ASSERT_OK(run_id);
  run.id = *run_id;

  TaskRecord task = MakeTask(run.id, "mmlu", "nvfp4");
  FP4LAB_ASSERT_OK(store_->UpsertTask(task));
  TaskRecord other_task = MakeTask(run.id, "mmlu", "bf16");
  other_task.complete = true;
  FP4LAB_ASSERT_OK(store_->UpsertTask(other_task));

  SampleRecord logged = MakeSample(run.id, "mmlu", "nvfp4", "abstract_algebra/17", 1.0);
  logged.prompt_text = "Question: 2+2?\nAnswer:";
  logged.output_text = " B\xe2\x80\x94ok";  // UTF-8 em dash survives
  SampleRecord plain = MakeSample(run.id, "mmlu", "nvfp4", "abstract_algebra/3", 0.0);
  plain.data = nlohmann::json::object();
  SampleRecord negative = MakeSample(run.id, "mmlu", "bf16", "abstract_algebra/17", -123.456789012345);
  FP4LAB_ASSERT_OK(store_->WriteSamples({logged, plain, negative}));

  MetricRecord acc{.run_id = run.id, .task = "mmlu", .precision = "nvfp4", .metric = "acc", .value = 0.5,
                   .stderr_value = 0.3535533905932738, .n = 2, .unit = "", .higher_is = "better"};
  MetricRecord tokens{.run_id = run.id, .task = "mmlu", .precision = "nvfp4", .metric = "ppl_overflow",
                      .value = std::numeric_limits<double>::infinity(), .stderr_value = std::nullopt, .n = 2,
                      .unit = "", .higher_is = "worse"};
  ComparisonRecord mcnemar{.run_id = run.id, .task = "mmlu", .precision = "nvfp4", .reference_precision = "bf16",
                           .metric = "acc", .delta = -0.5, .ci_low = -1.0, .ci_high = 0.25, .p_value = 0.0625,
                           .method = "mcnemar_exact", .extra = {{"b", 0}, {"c", 5}}};
  ComparisonRecord boot{.run_id = run.id, .task = "mmlu", .precision = "nvfp4", .reference_precision = "bf16",
                        .metric = "acc", .delta = -0.5, .ci_low = -0.9, .ci_high = -0.1, .p_value = std::nullopt,
                        .method = "paired_bootstrap", .extra = nlohmann::json::object()};
  FP4LAB_ASSERT_OK(store_->CompleteTask(task, {acc, tokens}, {mcnemar, boot}));
  task.complete = true;

  LayerPrecisionRecord q{.run_id = run.id, .precision = "nvfp4", .layer = "model.layers.0.self_attn.q_proj",
                         .scheme = "nvfp4", .reason = "quantized", .bytes = 9216};
  LayerPrecisionRecord head{.run_id = run.id, .precision = "nvfp4", .layer = "lm_head", .scheme = "bf16",
                            .reason = "excluded by 'lm_head'", .bytes = 4096000000LL};
  FP4LAB_ASSERT_OK(store_->WriteLayerPrecisions({q, head}));
  FP4LAB_ASSERT_OK(store_->FinishRun(run.id, RunStatus::kComplete, "2026-11-27T02:00:00Z"));
  run.status = RunStatus::kComplete;
  run.finished_at = "2026-11-27T02:00:00Z";

  // Read everything back through a fresh read-only store: the rows come from the file, not from memory.
  store_.reset();
  auto reader = ResultStore::Open(path_, OpenMode::kReadOnly);
  FP4LAB_ASSERT_OK(reader);
  ResultStore& r = **reader;
  EXPECT_EQ(Fields(r.GetRun(run.id).value()), Fields(run));
  ExpectSameRows(r.ListRuns().value(), {run});
  ExpectSameRows(r.ListTasks(run.id).value(), {other_task, task});  // ordered by task, precision
  ExpectSameRows(r.ListSamples(run.id, "", "").value(), {logged, plain, negative});
  ExpectSameRows(r.ListMetrics(run.id).value(), {acc, tokens});
  ExpectSameRows(r.ListComparisons(run.id).value(), {mcnemar, boot});
  ExpectSameRows(r.ListLayerPrecisions(run.id).value(), {q, head});
}

TEST_F(ResultStoreTest, FindIncompleteRunReturnsNewestUnfinishedRunOfThePlan) {
  const int64_t done = NewRun("plan-a");
  FP4LAB_ASSERT_OK(store_->FinishRun(done, RunStatus::kComplete, "t1"));
  const int64_t failed = NewRun("plan-a");
  FP4LAB_ASSERT_OK(store_->FinishRun(failed, RunStatus::kFailed, "t2"));
  const int64_t running = NewRun("plan-a");
  NewRun("plan-b");

  auto found = store_->FindIncompleteRun("plan-a");
  FP4LAB_ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, running);

  FP4LAB_ASSERT_OK(store_->FinishRun(running, RunStatus::kComplete, "t3"));
  found = store_->FindIncompleteRun("plan-a");
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, failed);  // a failed run can be resumed too
  EXPECT_EQ((*found)->status, RunStatus::kFailed);

  EXPECT_FALSE(store_->FindIncompleteRun("plan-unknown").value().has_value());
}

TEST_F(ResultStoreTest, LatestRunWithTagIgnoresUnfinishedAndOtherTags) {
  const int64_t old_run = NewRun("p", "baseline");
  FP4LAB_ASSERT_OK(store_->FinishRun(old_run, RunStatus::kComplete, "t1"));
  const int64_t new_run = NewRun("p", "baseline");
  FP4LAB_ASSERT_OK(store_->FinishRun(new_run, RunStatus::kComplete, "t2"));
  NewRun("p", "baseline");  // newest, but still running
  const int64_t other = NewRun("p", "candidate");
  FP4LAB_ASSERT_OK(store_->FinishRun(other, RunStatus::kComplete, "t3"));

  auto latest = store_->LatestRunWithTag("baseline");
  FP4LAB_ASSERT_OK(latest);
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->id, new_run);
  EXPECT_FALSE(store_->LatestRunWithTag("nope").value().has_value());
}

TEST_F(ResultStoreTest, OperationsOnAMissingRunAreNotFound) {
  EXPECT_EQ(store_->GetRun(42).status().code(), StatusCode::kNotFound);
  EXPECT_NE(store_->GetRun(42).status().message().find(path_), std::string::npos);
  EXPECT_EQ(store_->FinishRun(42, RunStatus::kComplete, "t").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->UpdateRunProvenance(42, {{"a", 1}}).code(), StatusCode::kNotFound);
}

TEST_F(ResultStoreTest, UpdateRunProvenanceReplacesTheObject) {
  const int64_t id = NewRun();
  const nlohmann::json provenance = {{"device", {{"cc", "9.0"}, {"sm_count", 132}}}};
  FP4LAB_ASSERT_OK(store_->UpdateRunProvenance(id, provenance));
  EXPECT_EQ(store_->GetRun(id).value().provenance, provenance);
}

TEST_F(ResultStoreTest, WriteSamplesIsIdempotentOnTheKeyAndKeepsWriteOrder) {
  const int64_t id = NewRun();
  std::vector<SampleRecord> batch = {MakeSample(id, "mmlu", "bf16", "s/2", 1),
                                     MakeSample(id, "mmlu", "bf16", "s/10", 0),
                                     MakeSample(id, "mmlu", "bf16", "s/1", 1)};
  FP4LAB_ASSERT_OK(store_->WriteSamples(batch));
  FP4LAB_ASSERT_OK(store_->WriteSamples(batch));  // a resumed run re-writes the same keys
  batch[1].score = 1;
  batch[1].outcome = "correct";
  FP4LAB_ASSERT_OK(store_->WriteSamples({batch[1]}));
  ExpectSameRows(store_->ListSamples(id, "mmlu", "bf16").value(), batch);
}

TEST_F(ResultStoreTest, ListSamplesFiltersAndStoredSampleIdsMatchExactly) {
  const int64_t id = NewRun();
  const int64_t other_run = NewRun("plan-b");
  FP4LAB_ASSERT_OK(store_->WriteSamples({MakeSample(id, "mmlu", "bf16", "a", 1),
                                         MakeSample(id, "mmlu", "nvfp4", "a", 0),
                                         MakeSample(id, "humaneval", "nvfp4", "HumanEval/3", 1),
                                         MakeSample(other_run, "mmlu", "nvfp4", "b", 1)}));
  EXPECT_EQ(store_->ListSamples(id, "", "").value().size(), 3u);
  EXPECT_EQ(store_->ListSamples(id, "mmlu", "").value().size(), 2u);
  EXPECT_EQ(store_->ListSamples(id, "", "nvfp4").value().size(), 2u);
  EXPECT_EQ(store_->ListSamples(id, "mmlu", "nvfp4").value().size(), 1u);
  EXPECT_EQ(store_->StoredSampleIds(id, "mmlu", "nvfp4").value(), (std::set<std::string>{"a"}));
  EXPECT_EQ(store_->StoredSampleIds(other_run, "mmlu", "nvfp4").value(), (std::set<std::string>{"b"}));
  EXPECT_TRUE(store_->StoredSampleIds(id, "mmlu", "").value().empty());
}

TEST_F(ResultStoreTest, BatchWithADuplicateKeyWritesNothing) {
  const int64_t id = NewRun();
  const SampleRecord kept = MakeSample(id, "mmlu", "bf16", "s0", 1);
  FP4LAB_ASSERT_OK(store_->WriteSamples({kept}));
  Status status = store_->WriteSamples({MakeSample(id, "mmlu", "bf16", "s1", 1),
                                        MakeSample(id, "mmlu", "bf16", "s2", 0),
                                        MakeSample(id, "mmlu", "bf16", "s1", 0)});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'s1'"), std::string::npos) << status.message();
  ExpectSameRows(store_->ListSamples(id, "", "").value(), {kept});
}

TEST_F(ResultStoreTest, ConstraintViolationInTheMiddleOfABatchRollsBackTheWholeBatch) {
  const int64_t id = NewRun();
  const SampleRecord kept = MakeSample(id, "mmlu", "bf16", "s0", 1);
  FP4LAB_ASSERT_OK(store_->WriteSamples({kept}));

  // Row 2 of 3 names a run that does not exist: the foreign key fails after row 1 was inserted.
  Status status = store_->WriteSamples({MakeSample(id, "mmlu", "bf16", "s1", 1),
                                        MakeSample(999, "mmlu", "bf16", "s2", 0),
                                        MakeSample(id, "mmlu", "bf16", "s3", 0)});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("FOREIGN KEY"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(path_), std::string::npos) << status.message();

  // Row 2 of 3 has an empty sample_id: the CHECK constraint fails.
  status = store_->WriteSamples({MakeSample(id, "mmlu", "bf16", "s1", 1), MakeSample(id, "mmlu", "bf16", "", 0),
                                 MakeSample(id, "mmlu", "bf16", "s3", 0)});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("CHECK"), std::string::npos) << status.message();

  ExpectSameRows(store_->ListSamples(id, "", "").value(), {kept});
  // The connection is usable afterwards (the transaction was closed, not left open).
  FP4LAB_ASSERT_OK(store_->WriteSamples({MakeSample(id, "mmlu", "bf16", "s1", 1)}));
}

TEST_F(ResultStoreTest, NanScoresAreRejected) {
  const int64_t id = NewRun();
  Status status = store_->WriteSamples({MakeSample(id, "mmlu", "bf16", "s0", std::nan(""))});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("NaN"), std::string::npos);
  EXPECT_TRUE(store_->ListSamples(id, "", "").value().empty());
}

TEST_F(ResultStoreTest, CompleteTaskReplacesMetricsAndMarksTheTaskComplete) {
  const int64_t id = NewRun();
  const TaskRecord task = MakeTask(id, "perplexity", "nvfp4");
  FP4LAB_ASSERT_OK(store_->UpsertTask(task));
  EXPECT_FALSE(store_->ListTasks(id).value()[0].complete);

  MetricRecord first = MakeMetric(id, "perplexity", "nvfp4", "token_ppl", 9.5);
  MetricRecord second = first;
  second.metric = "word_ppl";
  FP4LAB_ASSERT_OK(store_->CompleteTask(task, {first, second}, {}));
  EXPECT_TRUE(store_->ListTasks(id).value()[0].complete);

  MetricRecord redo = first;
  redo.value = 9.25;
  FP4LAB_ASSERT_OK(store_->CompleteTask(task, {redo}, {}));
  ExpectSameRows(store_->ListMetrics(id).value(), {redo});
}

TEST_F(ResultStoreTest, FailedCompleteTaskChangesNothing) {
  const int64_t id = NewRun();
  const TaskRecord task = MakeTask(id, "mmlu", "nvfp4");
  FP4LAB_ASSERT_OK(store_->UpsertTask(task));
  MetricRecord acc = MakeMetric(id, "mmlu", "nvfp4", "acc", 0.5);
  FP4LAB_ASSERT_OK(store_->CompleteTask(task, {acc}, {}));
  TaskRecord incomplete = task;
  FP4LAB_ASSERT_OK(store_->UpsertTask(incomplete));  // e.g. --resume reopened it

  // A repeated metric key fails inside the transaction, after the delete and the first insert ran.
  MetricRecord changed = acc;
  changed.value = 0.25;
  Status status = store_->CompleteTask(task, {changed, changed}, {});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("UNIQUE"), std::string::npos) << status.message();
  ExpectSameRows(store_->ListMetrics(id).value(), {acc});
  EXPECT_FALSE(store_->ListTasks(id).value()[0].complete);

  // Rows of another task are refused before anything is written.
  MetricRecord foreign = acc;
  foreign.precision = "bf16";
  EXPECT_EQ(store_->CompleteTask(task, {foreign}, {}).code(), StatusCode::kInvalidArgument);
  ComparisonRecord nan_delta = MakeComparison(id, "mmlu", "nvfp4", "acc", "paired_bootstrap");
  nan_delta.delta = std::nan("");
  EXPECT_EQ(store_->CompleteTask(task, {acc}, {nan_delta}).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(store_->ListTasks(id).value()[0].complete);
  EXPECT_TRUE(store_->ListComparisons(id).value().empty());
}

TEST_F(ResultStoreTest, InTransactionRollsBackEverythingOnError) {
  Status status = store_->InTransaction("test", [&]() -> Status {
    FP4LAB_RETURN_IF_ERROR(store_->CreateRun(MakeRun("rolled-back")));
    return Status::Aborted("stop");
  });
  EXPECT_EQ(status.code(), StatusCode::kAborted);
  EXPECT_TRUE(store_->ListRuns().value().empty());
}

TEST_F(ResultStoreTest, ReadOnlyStoreRefusesWritesAndLeavesTheFileAlone) {
  const int64_t id = NewRun();
  store_.reset();
  const std::string before = testing::ReadBytes(path_);
  auto reader = ResultStore::Open(path_, OpenMode::kReadOnly);
  FP4LAB_ASSERT_OK(reader);
  EXPECT_EQ((*reader)->CreateRun(MakeRun("x")).status().code(), StatusCode::kFailedPrecondition);
  Status status = (*reader)->WriteSamples({MakeSample(id, "mmlu", "bf16", "s", 1)});
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("read-only"), std::string::npos);
  EXPECT_EQ((*reader)->ListRuns().value().size(), 1u);
  reader->reset();
  EXPECT_EQ(testing::ReadBytes(path_), before);
}

TEST(ResultStoreOpenTest, MissingFileIsCreatedOnlyInCreateMode) {
  TempDir dir;
  const std::string path = dir.File("absent.sqlite");
  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    auto store = ResultStore::Open(path, mode);
    EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
    EXPECT_NE(store.status().message().find(path), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  FP4LAB_ASSERT_OK(ResultStore::Open(path, OpenMode::kCreateOrOpen));
  EXPECT_TRUE(std::filesystem::exists(path));
  FP4LAB_ASSERT_OK(ResultStore::Open(path, OpenMode::kReadWrite));
}

}  // namespace
}  // namespace fp4lab
