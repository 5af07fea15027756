// End-to-end tests of `fp4lab run` / `merge` / `inspect` / `generate` through the real binary: crash + resume,
// shard + merge, and bad input (exit code 2, a message naming the file and problem, no complete run recorded).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "engine/file_util.h"
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
using testing::SourcePath;
using testing::TempDir;

bool HasCompleteRun(const std::string& db) {
  if (!fs::exists(db)) return false;
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  if (!store.ok()) return false;
  auto runs = (*store)->ListRuns();
  for (const auto& r : *runs) {
    if (r.status == RunStatus::kComplete) return true;
  }
  return false;
}

int64_t StoredSamples(const std::string& db) {
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  if (!store.ok()) return 0;
  auto runs = (*store)->ListRuns();
  if (!runs.ok() || runs->empty()) return 0;
  auto samples = (*store)->ListSamples(runs->back().id, "", "");
  return samples.ok() ? static_cast<int64_t>(samples->size()) : 0;
}

// bf16 reference + weight-only NVFP4 (no calibration needed): 40 documents, so a kill after the first stored batch
// of 16 lands well before the end.
const std::string kPerplexityArgs = "run --tasks perplexity --precisions nvfp4-w4a16 --report \"\" --calib \"\"";

TEST(RunCli, KillNineThenResumeEqualsUninterruptedRun) {
  const std::string dir = TempDir("run_cli_resume");
  ASSERT_EQ(RunFp4lab(kPerplexityArgs + " --db " + dir + "/full.sqlite").exit_code, 0);
  const auto expected = MetricsOf(dir + "/full.sqlite");
  ASSERT_FALSE(expected.empty());

  // Start the same run, kill -9 it once the first batch of samples is stored and before it completes.
  const std::string db = dir + "/killed.sqlite";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string data_dir = std::string("FP4LAB_DATA_DIR=") + FP4LAB_SOURCE_DIR + "/datasets";
    ::putenv(const_cast<char*>(data_dir.c_str()));
    ::freopen("/dev/null", "w", stderr);
    ::execl(FP4LAB_EXE, FP4LAB_EXE, "run", "--tasks", "perplexity", "--precisions", "nvfp4-w4a16", "--report", "",
            "--calib", "", "--db", db.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bool killed_mid_run = false;
  for (int i = 0; i < 3000; ++i) {  // up to 60 s
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (fs::exists(db) && StoredSamples(db) > 0) {
      killed_mid_run = !HasCompleteRun(db);
      ::kill(pid, SIGKILL);
      break;
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(killed_mid_run) << "the run finished before it could be killed";
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(HasCompleteRun(db));
  const int64_t stored_before = StoredSamples(db);

  auto resumed = RunFp4lab(kPerplexityArgs + " --db " + db + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming run"), std::string::npos) << resumed.output;
  EXPECT_GT(stored_before, 0);
  EXPECT_EQ(MetricsOf(db), expected);
}

TEST(RunCli, ResumeWithoutAnIncompleteRunIsAnError) {
  const std::string dir = TempDir("run_cli_resume_none");
  auto r = RunFp4lab(kPerplexityArgs + " --db " + dir + "/x.sqlite --resume");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no incomplete run"), std::string::npos) << r.output;
}

TEST(RunCli, TwoShardsMergedEqualTheUnshardedRun) {
  const std::string dir = TempDir("run_cli_shards");
  const std::string args = "run --tasks perplexity,fidelity --ctx 64 --report \"\" --ppl-data " +
                           FixturePath("text/three_stories.txt");
  ASSERT_EQ(RunFp4lab(args + " --db " + dir + "/all.sqlite").exit_code, 0);
  ASSERT_EQ(RunFp4lab(args + " --shard 0/2 --db " + dir + "/s0.sqlite").exit_code, 0);
  ASSERT_EQ(RunFp4lab(args + " --shard 1/2 --db " + dir + "/s1.sqlite").exit_code, 0);
  auto merged = RunFp4lab("merge " + dir + "/merged.sqlite " + dir + "/s0.sqlite " + dir + "/s1.sqlite");
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  const auto expected = MetricsOf(dir + "/all.sqlite");
  const auto got = MetricsOf(dir + "/merged.sqlite");
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [key, value] : expected) {
    // Sums are accumulated in sample-id order from stored samples in both cases: identical, not just close.
    EXPECT_EQ(got.at(key), value) << key;
  }
}

struct BadRunCase {
  const char* name;
  std::string args;
  const char* message;  // a fragment the one-line error must contain
};

TEST(RunCli, BadInputExitsTwoAndRecordsNoCompleteRun) {
  const std::string dir = TempDir("run_cli_bad");
  const std::string empty = dir + "/empty.txt", latin1 = dir + "/latin1.txt", shortfile = dir + "/short.txt";
  std::ofstream(empty).close();
  std::ofstream(latin1) << "caf\xe9 au lait\n";
  std::ofstream(shortfile) << "Once upon a time.\n";
  const std::vector<BadRunCase> cases = {
      {"empty text", "--tasks perplexity --ppl-data " + empty, "empty"},
      {"non-UTF-8 text", "--tasks perplexity --ppl-data " + latin1, "UTF-8"},
      {"missing dataset", "--tasks perplexity --ppl-data " + dir + "/nope.txt", "nope.txt"},
      {"text shorter than a chunk", "--tasks perplexity --ppl-convention llamacpp --ctx 512 --ppl-data " + shortfile,
       "chunk"},
      {"unknown task", "--tasks perplexity,hellaswag", "hellaswag"},
      {"unknown precision", "--precisions nvfp5", "nvfp5"},
      {"bad shard", "--shard 2/2", "--shard"},
      {"missing model", "--model " + dir + "/no_model", "no_model"},
  };
  for (const auto& c : cases) {
    const std::string db = dir + "/bad.sqlite";
    fs::remove(db);
    auto r = RunFp4lab("run --report \"\" --db " + db + " " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find("error"), std::string::npos) << c.name;
    EXPECT_FALSE(HasCompleteRun(db)) << c.name;
  }
}

TEST(RunCli, ForeignDatabaseIsRefusedAndLeftUntouched) {
  const std::string dir = TempDir("run_cli_foreign_db");
  const std::string db = dir + "/notes.sqlite";
  std::ofstream(db) << "this is not a database, it is somebody's notes\n";
  const std::string before = *ReadFile(db);
  auto r = RunFp4lab(kPerplexityArgs + " --db " + db);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("notes.sqlite"), std::string::npos) << r.output;
  EXPECT_EQ(*ReadFile(db), before);
}

// A copy of the llama_tiny fixture in `dir` whose model.safetensors is replaced by `bytes` (or left out).
std::string BrokenModel(const std::string& dir, const std::string* bytes) {
  fs::create_directories(dir);
  fs::copy_file(FixturePath("llama_tiny/config.json"), dir + "/config.json", fs::copy_options::overwrite_existing);
  if (bytes != nullptr) std::ofstream(dir + "/model.safetensors", std::ios::binary) << *bytes;
  return dir;
}

// A one-tensor safetensors file with the given header JSON and `data_bytes` bytes of data.
std::string Safetensors(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\0');
}

TEST(InspectCli, BadCheckpointsGiveOneClearErrorAndExitTwo) {
  const std::string dir = TempDir("inspect_bad");
  const std::string real = *ReadFile(FixturePath("llama_tiny/model.safetensors"));
  const std::string truncated = real.substr(0, real.size() / 2);
  const std::string overrun =
      Safetensors(R"({"lm_head.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,64]}})", 8);
  const std::string unknown_dtype =
      Safetensors(R"({"lm_head.weight":{"dtype":"F4","shape":[2,2],"data_offsets":[0,2]}})", 2);
  const std::string mismatch =
      Safetensors(R"({"lm_head.weight":{"dtype":"BF16","shape":[4,4],"data_offsets":[0,8]}})", 8);
  const std::string missing_tensor =
      Safetensors(R"({"lm_head.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}})", 8);
  struct Case {
    const char* name;
    std::string model;
    const char* message;
  };
  std::vector<Case> cases = {
      {"truncated file", BrokenModel(dir + "/truncated", &truncated), "truncated"},
      {"offsets overrun", BrokenModel(dir + "/overrun", &overrun), "overrun"},
      {"unknown dtype", BrokenModel(dir + "/dtype", &unknown_dtype), "unknown dtype 'F4'"},
      {"shape/byte mismatch", BrokenModel(dir + "/mismatch", &mismatch), "needs 32"},
      {"missing tensor", BrokenModel(dir + "/missing", &missing_tensor), "model.embed_tokens.weight"},
      {"no weights at all", BrokenModel(dir + "/noweights", nullptr), "model.safetensors"},
  };
  // Unknown model_type: a real checkpoint with its config edited.
  const std::string odd = dir + "/odd_type";
  BrokenModel(odd, &real);
  std::string config = *ReadFile(odd + "/config.json");
  config.replace(config.find("\"llama\""), 7, "\"mamba9\"");
  std::ofstream(odd + "/config.json") << config;
  cases.push_back({"unknown model_type", odd, "unknown model_type 'mamba9'"});
  for (const auto& c : cases) {
    auto r = RunFp4lab("inspect --calib \"\" --model " + c.model);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.model), std::string::npos) << c.name << " names the file: " << r.output;
  }
}

TEST(GenerateCli, MissingTokenizerNamesTheFile) {
  auto r = RunFp4lab("generate --model " + FixturePath("llama_tiny") + " --prompt hi");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("llama_tiny/tokenizer.model"), std::string::npos) << r.output;
}

TEST(GenerateCli, BundledModelTellsItsStory) {
  auto r = RunFp4lab("generate --prompt \"Once upon a time, there was a little\" --max-tokens 20");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Greedy continuation of the reference prompt (tests/fixtures/stories260K/reference.json greedy_text).
  EXPECT_NE(r.output.find("Once upon a time, there was a little girl named Lily."), std::string::npos) << r.output;
}

}  // namespace
}  // namespace fp4lab
