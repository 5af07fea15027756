// Several writers on one results file: threads with their own stores, and a forked process.
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "results/result_store.h"
#include "store_test_util.h"

namespace fp4lab {
namespace {

using testing::MakeRun;
using testing::MakeSample;
using testing::TempDir;

constexpr int kBatches = 40;
constexpr int kBatchSize = 25;

// Opens its own store on `path` and writes kBatches batches of samples for a new run; returns the run id
// or the first error.
Result<int64_t> WriteOneRun(const std::string& path, const std::string& plan_key) {
  FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<ResultStore> store, ResultStore::Open(path, OpenMode::kCreateOrOpen));
  FP4LAB_ASSIGN_OR_RETURN(int64_t run_id, store->CreateRun(MakeRun(plan_key)));
  for (int batch = 0; batch < kBatches; ++batch) {
    std::vector<SampleRecord> samples;
    for (int i = 0; i < kBatchSize; ++i) {
      samples.push_back(MakeSample(run_id, "mmlu", "bf16", std::to_string(batch) + "/" + std::to_string(i), i % 2));
    }
    FP4LAB_RETURN_IF_ERROR(store->WriteSamples(samples));
    // Reads interleave with the other writer's commits.
    FP4LAB_ASSIGN_OR_RETURN(std::set<std::string> ids, store->StoredSampleIds(run_id, "mmlu", "bf16"));
    if (ids.size() != static_cast<size_t>((batch + 1) * kBatchSize)) {
      return Status::Internal(plan_key + ": expected " + std::to_string((batch + 1) * kBatchSize) +
                              " samples, read " + std::to_string(ids.size()));
    }
  }
  FP4LAB_RETURN_IF_ERROR(store->FinishRun(run_id, RunStatus::kComplete, "done"));
  return run_id;
}

void ExpectTwoCompleteRuns(const std::string& path) {
  auto store = ResultStore::Open(path, OpenMode::kReadOnly);
  FP4LAB_ASSERT_OK(store);
  std::vector<RunRecord> runs = (*store)->ListRuns().value();
  ASSERT_EQ(runs.size(), 2u);
  for (const RunRecord& run : runs) {
    EXPECT_EQ(run.status, RunStatus::kComplete);
    EXPECT_EQ((*store)->ListSamples(run.id, "", "").value().size(), static_cast<size_t>(kBatches * kBatchSize));
  }
}

TEST(StoreConcurrencyTest, TwoThreadsCreatingAndWritingOneFileBothSucceed) {
  TempDir dir;
  const std::string path = dir.File("results.sqlite");  // does not exist yet: both race to create it
  Result<int64_t> first = Status::Internal("not run");
  Result<int64_t> second = Status::Internal("not run");
  std::thread a([&] { first = WriteOneRun(path, "plan-a"); });
  std::thread b([&] { second = WriteOneRun(path, "plan-b"); });
  a.join();
  b.join();
  FP4LAB_ASSERT_OK(first);
  FP4LAB_ASSERT_OK(second);
  EXPECT_NE(*first, *second);
  ExpectTwoCompleteRuns(path);
}

TEST(StoreConcurrencyTest, TwoProcessesWritingOneFileBothSucceed) {
  TempDir dir;
  const std::string path = dir.File("results.sqlite");
  FP4LAB_ASSERT_OK(ResultStore::Open(path, OpenMode::kCreateOrOpen));  // created and closed before the fork

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child touches only its own store and leaves without running gtest's teardown.
    Result<int64_t> result = WriteOneRun(path, "plan-child");
    _exit(result.ok() ? 0 : 1);
  }
  Result<int64_t> parent = WriteOneRun(path, "plan-parent");
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  FP4LAB_ASSERT_OK(parent);
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 0) << "the child's writes failed";
  ExpectTwoCompleteRuns(path);
}

}  // namespace
}  // namespace fp4lab
