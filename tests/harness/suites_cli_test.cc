// `fp4lab run` on the user's own suite files: --mmlu-data (the MMLU release layout), --humaneval-data and --suite
// (HumanEval, HumanEval+ and MBPP+ in the evalplus format), visible in --help, with exit-2 errors naming the file and
// line, and the stored task naming the data and its sha256.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "datasets/sha256.h"
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

// The tasks of the only run in `db`.
std::vector<TaskRecord> StoredTasks(const std::string& db) {
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return {};
  auto runs = (*store)->ListRuns();
  EXPECT_TRUE(runs.ok() && runs->size() == 1u);
  if (!runs.ok() || runs->empty()) return {};
  auto tasks = (*store)->ListTasks(runs->back().id);
  EXPECT_TRUE(tasks.ok()) << tasks.status().ToString();
  return tasks.ok() ? *tasks : std::vector<TaskRecord>{};
}

// Markdown text as the md report writes it ('_' escaped).
std::string MarkdownEscaped(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '_' ? std::string("\\_") : std::string(1, c);
  return out;
}

TEST(SuitesCli, HelpNamesTheSuiteFlags) {
  const auto r = RunFp4lab("run --help");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* flag : {"--mmlu-data", "--humaneval-data", "--suite", "humaneval+", "mbpp+"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
}

TEST(SuitesCli, MmluDataDirectoryIsReadAndNamedWithItsSha256) {
  const std::string dir = TempDir("suites_cli_mmlu");
  fs::create_directories(dir + "/mmlu/test");
  fs::copy_file(SourcePath("datasets/mmlu/test/world_religions_test.csv"),
                dir + "/mmlu/test/world_religions_test.csv");
  const auto r = RunFp4lab("run --report \"\" --tasks mmlu --precisions bf16 --limit 2 --mmlu-data " + dir +
                           "/mmlu --db " + dir + "/r.sqlite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto tasks = StoredTasks(dir + "/r.sqlite");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].config.value("data_dir", ""), dir + "/mmlu");
  EXPECT_EQ(tasks[0].config.value("subjects", nlohmann::json()), nlohmann::json({"world_religions"}));
  // tasks/mmlu_task.h: the sha256 of "<split>/<file> <file sha256>\n" over the files read.
  const auto file_sha = Sha256FileHex(dir + "/mmlu/test/world_religions_test.csv");
  ASSERT_TRUE(file_sha.ok());
  EXPECT_EQ(tasks[0].dataset_sha256, Sha256Hex("test/world_religions_test.csv " + *file_sha + "\n"));
}

TEST(SuitesCli, BadSuiteInputExitsTwoNamingFileAndLine) {
  const std::string dir = TempDir("suites_cli_bad");
  fs::create_directories(dir + "/mmlu/test");
  std::ofstream(dir + "/mmlu/test/anatomy_test.csv") << "q,a,b,c,d,A\nq2,a,b,c,d,E\n";
  std::ofstream(dir + "/broken.jsonl") << "{\"task_id\": \"HumanEval/0\", \"prompt\": \"p\"}\n";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--tasks mmlu --mmlu-data " + dir + "/mmlu", "anatomy_test.csv:2: answer must be one of A, B, C, D, got 'E'"},
      {"--tasks mmlu --mmlu-data " + dir + "/nowhere", "nowhere/test: no such directory"},
      {"--tasks humaneval --allow-code-exec --humaneval-data " + dir + "/broken.jsonl",
       "broken.jsonl:1: missing key 'entry_point'"},
      {"--tasks humaneval --allow-code-exec --suite mbpp+", "pass --humaneval-data with the evalplus release"},
      {"--tasks humaneval --allow-code-exec --suite humaneval+ --humaneval-data " + dir + "/broken.jsonl",
       "broken.jsonl:1: missing key 'entry_point'"},
      {"--tasks humaneval --suite humaneval++", "--suite must be one of humaneval, humaneval+, mbpp+"},
  };
  for (const Case& c : cases) {
    const auto r = RunFp4lab("run --report \"\" --precisions bf16 --db " + dir + "/bad.sqlite " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << ": " << r.output;
  }
  EXPECT_FALSE(fs::exists(dir + "/bad.sqlite"));
}

TEST(SuitesCli, HumanEvalPlusRunsUnderItsOwnTaskName) {
  const std::string dir = TempDir("suites_cli_plus");
  const std::string data = FixturePath("evalplus/humanevalplus_mini.jsonl.gz");
  const auto r = RunFp4lab("run --report \"\" --precisions bf16 --tasks humaneval --suite humaneval+ --allow-code-exec "
                           "--limit 1 --max-new-tokens 4 --humaneval-data " + data + " --db " + dir + "/r.sqlite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto tasks = StoredTasks(dir + "/r.sqlite");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].task, "humaneval+");
  EXPECT_EQ(tasks[0].config.value("suite", ""), "humaneval+");
  EXPECT_EQ(tasks[0].config.value("problems", ""), data);
  const auto sha = Sha256FileHex(data);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(tasks[0].dataset_sha256, *sha);
  // The report has a HumanEval+ table and names the data file with its sha256.
  const auto report = RunFp4lab("report --format md --db " + dir + "/r.sqlite --out " + dir + "/r.md");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  std::ifstream in(dir + "/r.md");
  const std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(md.find("HumanEval+"), std::string::npos) << md;
  EXPECT_NE(md.find(MarkdownEscaped("base_pass@1")), std::string::npos) << md;
  EXPECT_NE(md.find(MarkdownEscaped(data)), std::string::npos) << md;
  EXPECT_NE(md.find(*sha), std::string::npos) << md;
}

}  // namespace
}  // namespace fp4lab
