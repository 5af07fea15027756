// `fp4lab run --preset NAME --tokenizer DIR`: synthetic weights of a preset's shape with a real tokenizer run the
// text tasks; the run is labelled synthetic in its provenance, the run/compare text and JSON and the report, and
// `gate` refuses it (exit 2 with the reason).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "harness/cli_util.h"
#include "results/result_store.h"
#include "results/synthetic_weights.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::RunFp4lab;
using testing::SourcePath;
using testing::TempDir;

// The tiny preset (vocab 2048) with stories260K's 512-piece sentencepiece tokenizer.
const std::string kPresetRun = "run --preset tiny --tokenizer " + SourcePath("datasets/models/stories260K") +
                               " --tasks mmlu --mmlu-subjects world_religions --limit 2 --precisions nvfp4-w4a16 "
                               "--no-reference ";

TEST(PresetRunCli, SyntheticScoresAreLabelledEverywhereAndRefusedByTheGate) {
  const std::string dir = TempDir("preset_run_cli");
  const std::string db = dir + "/r.sqlite";
  const auto run = RunFp4lab(kPresetRun + "--db " + db + " --report " + dir + "/r.html");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("note: synthetic weights (preset tiny)"), std::string::npos) << run.output;

  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto runs = (*store)->ListRuns();
  ASSERT_TRUE(runs.ok() && runs->size() == 1u);
  const auto note = SyntheticWeightsNote(runs->front());
  ASSERT_TRUE(note.has_value());
  EXPECT_EQ(*note, "synthetic weights (preset tiny, deterministic random): scores measure speed, not accuracy");
  auto samples = (*store)->ListSamples(runs->front().id, "mmlu", "nvfp4-w4a16");
  ASSERT_TRUE(samples.ok());
  EXPECT_EQ(samples->size(), 2u);  // the text task ran through the real tokenizer

  const auto compare = RunFp4lab("compare --db " + db);
  EXPECT_EQ(compare.exit_code, 0) << compare.output;
  EXPECT_NE(compare.output.find("note: " + *note), std::string::npos) << compare.output;
  const auto compare_json = RunFp4lab("compare --json --db " + db);
  EXPECT_NE(compare_json.output.find("\"synthetic_weights\": \"" + *note + "\""), std::string::npos)
      << compare_json.output;

  std::ifstream html_file(dir + "/r.html");
  const std::string html((std::istreambuf_iterator<char>(html_file)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("synthetic weights (preset tiny, deterministic random)"), std::string::npos);

  std::ofstream(dir + "/rules.json")
      << R"({"rules": [{"name": "acc", "task": "mmlu", "metric": "acc", "precision": "nvfp4-w4a16",
                        "against": "reference", "kind": "absolute", "max": 1.0}]})";
  const auto gate = RunFp4lab("gate --db " + db + " --rules " + dir + "/rules.json");
  EXPECT_EQ(gate.exit_code, 2) << gate.output;
  EXPECT_NE(gate.output.find("the gate judges accuracy and refuses it"), std::string::npos) << gate.output;
}

TEST(PresetRunCli, TokenizerMustFitThePresetAndGoWithIt) {
  const std::string dir = TempDir("preset_run_cli_bad");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"run --preset tiny --tokenizer " + testing::FixturePath("tokenizers/tinyllama-1.1b-chat-v1.0"),
       "has a vocabulary of 2048; pick the tokenizer of that model"},
      {"run --preset tiny", "--preset tiny: needs --tokenizer DIR"},
      {"run --tokenizer " + SourcePath("datasets/models/stories260K"), "--tokenizer: only with --preset"},
      {"run --preset tiny --tokenizer " + dir, "no tokenizer here"},
      {"run --preset llama-9b --tokenizer " + SourcePath("datasets/models/stories260K"), "unknown preset 'llama-9b'"},
  };
  for (const Case& c : cases) {
    const auto r = RunFp4lab(c.args + " --tasks mmlu --limit 1 --report \"\" --db " + dir + "/bad.sqlite");
    EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << ": " << r.output;
  }
}

}  // namespace
}  // namespace fp4lab
