// `fp4lab merge` refuses to be wrong: shards of different plans, a missing, repeated or incomplete shard, shards of
// different splits, a sharded latency task and a sample outside its shard each exit 2 with a message naming the shard
// files, and leave no output file (nor a temporary) behind. A good set merges to the unsharded metrics and keeps
// every shard's device facts.
#include <filesystem>

#include <gtest/gtest.h>

#include "harness/cli_util.h"
#include "harness/run_metrics.h"
#include "results/result_store.h"
#include "test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;
using testing::FixturePath;
using testing::MetricsOf;
using testing::RunFp4lab;
using testing::TempDir;

std::string RunArgs() {
  return "run --tasks perplexity --precisions nvfp4-w4a16 --calib \"\" --report \"\" --ppl-data " +
         FixturePath("text/three_stories.txt");
}

void RunShard(const std::string& extra, const std::string& db, int ctx = 64) {
  auto r = RunFp4lab(RunArgs() + " --ctx " + std::to_string(ctx) + " " + extra + " --db " + db);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// The newest run of `db`, opened read-write, for crafting broken shards.
struct Opened {
  std::unique_ptr<ResultStore> store;
  RunRecord run;
};
Opened OpenNewest(const std::string& db) {
  Opened o;
  o.store = ResultStore::Open(db, OpenMode::kReadWrite).value();
  o.run = o.store->ListRuns().value().back();
  return o;
}

// Nothing named `out` or `out.tmp.*` in its folder.
bool LeftNothing(const std::string& out) {
  const fs::path p(out);
  for (const auto& entry : fs::directory_iterator(p.parent_path())) {
    if (entry.path().filename().string().rfind(p.filename().string(), 0) == 0) return false;
  }
  return true;
}

TEST(MergeCli, RefusedSetsExitTwoNameTheFilesAndWriteNothing) {
  const std::string dir = TempDir("merge_cli_refusals");
  const std::string s0 = dir + "/s0of2.sqlite", s1 = dir + "/s1of2.sqlite", t0 = dir + "/s0of3.sqlite";
  const std::string other = dir + "/s1of2_ctx32.sqlite";
  RunShard("--shard 0/2", s0);
  RunShard("--shard 1/2", s1);
  RunShard("--shard 0/3", t0);
  RunShard("--shard 1/2", other, 32);  // another plan

  // A shard whose run did not finish.
  const std::string failed = dir + "/s1of2_failed.sqlite";
  fs::copy_file(s1, failed);
  {
    Opened o = OpenNewest(failed);
    ASSERT_TRUE(o.store->FinishRun(o.run.id, RunStatus::kFailed, "").ok());
  }
  // A shard that claims a latency task.
  const std::string latency = dir + "/s0of2_latency.sqlite";
  fs::copy_file(s0, latency);
  {
    Opened o = OpenNewest(latency);
    TaskRecord task;
    task.run_id = o.run.id;
    task.task = "latency";
    task.precision = "bf16";
    task.complete = true;
    ASSERT_TRUE(o.store->UpsertTask(task).ok());
  }
  // A shard holding an item of the other shard.
  const std::string foreign = dir + "/s0of2_foreign.sqlite";
  fs::copy_file(s0, foreign);
  {
    Opened from = OpenNewest(s1);
    Opened to = OpenNewest(foreign);
    SampleRecord sample = from.store->ListSamples(from.run.id, "", "").value().front();
    sample.run_id = to.run.id;
    ASSERT_TRUE(to.store->WriteSamples({sample}).ok());
  }
  const std::string existing = dir + "/existing.sqlite";
  RunShard("", existing);

  struct Case {
    const char* name;
    std::string inputs;
    std::vector<std::string> fragments;  // each must appear in the message
    std::string out;
  };
  const std::vector<Case> cases = {
      {"shard 0 of 2 alone", s0, {"1/2 missing", s0}},
      {"the same shard twice", s0 + " " + s0, {"given twice", s0}},
      {"shards of different splits", s0 + " " + s1 + " " + t0, {"split the work differently", t0}},
      {"different plans", s0 + " " + other, {"ran different plans", "ctx", s0, other}},
      {"an incomplete shard", s0 + " " + failed, {failed, "is failed", "--resume"}},
      {"a sharded latency task", latency + " " + s1, {latency, "latency", "never sharded"}},
      {"a sample of another shard", foreign + " " + s1, {foreign, "belongs to another shard"}},
      {"an existing output", s0 + " " + s1, {existing, "exists"}, existing},
  };
  for (const Case& c : cases) {
    const std::string out = c.out.empty() ? dir + "/merged.sqlite" : c.out;
    auto r = RunFp4lab("merge " + out + " " + c.inputs);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.output;
    for (const std::string& fragment : c.fragments) {
      EXPECT_NE(r.output.find(fragment), std::string::npos) << c.name << ": " << r.output;
    }
    if (c.out.empty()) {
      EXPECT_TRUE(LeftNothing(out)) << c.name;
    } else {
      EXPECT_EQ(ResultStore::Open(out, OpenMode::kReadOnly).value()->ListRuns().value().size(), 1u) << c.name;
    }
  }
  // The run itself refuses to shard latency, before anything is written.
  auto r = RunFp4lab("run --tasks latency --shard 0/2 --report \"\" --db " + dir + "/latency_run.sqlite");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("never sharded"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/latency_run.sqlite"));
}

TEST(MergeCli, MergedRunEqualsTheUnshardedRunAndKeepsEveryShardsDevice) {
  const std::string dir = TempDir("merge_cli_good");
  RunShard("", dir + "/all.sqlite");
  RunShard("--shard 1/2", dir + "/s1.sqlite");
  RunShard("--shard 0/2", dir + "/s0.sqlite");
  auto r = RunFp4lab("merge " + dir + "/merged.sqlite " + dir + "/s1.sqlite " + dir + "/s0.sqlite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(MetricsOf(dir + "/merged.sqlite"), MetricsOf(dir + "/all.sqlite"));

  auto store = ResultStore::Open(dir + "/merged.sqlite", OpenMode::kReadOnly).value();
  const RunRecord run = store->ListRuns().value().back();
  EXPECT_EQ(run.provenance["plan"]["shard"], "0/1");
  const nlohmann::json& shards = run.provenance["shards"];
  ASSERT_EQ(shards.size(), 2u) << run.provenance.dump();
  int64_t samples = 0;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(shards[i]["shard"], std::to_string(i) + "/2");  // in index order, whatever the argument order
    EXPECT_EQ(shards[i]["file"], dir + "/s" + std::to_string(i) + ".sqlite");
    EXPECT_EQ(shards[i]["device"], "cpu");
    EXPECT_EQ(shards[i]["device_facts"]["nvfp4-w4a16"]["kind"], "cpu") << shards[i].dump();
    EXPECT_GT(shards[i]["timing"]["eval_seconds"].get<double>(), 0.0) << shards[i].dump();
    EXPECT_EQ(shards[i]["timing"]["samples_evaluated"], shards[i]["samples"]);
    samples += shards[i]["samples"].get<int64_t>();
  }
  EXPECT_EQ(samples, store->CountSamples(run.id).value());
}

}  // namespace
}  // namespace fp4lab
