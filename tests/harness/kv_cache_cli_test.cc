// --kv-cache and the "+kv-FORMAT" precision labels through the CLI: bad values exit 2 naming the flag; the flag
// and the label select the same FP8 cache; a run stores each precision's two axes and the report attributes each
// delta to the weights or to the cache.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "engine/file_util.h"
#include "results/result_store.h"
#include "run_metrics.h"
#include "test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;
using testing::FixturePath;
using testing::RunFp4lab;
using testing::TempDir;

TEST(KvCacheCli, BadValuesExitTwoNamingTheFlagAndWriteNothing) {
  const std::string dir = TempDir("kv_cache_cli_bad");
  const std::string model = " --model " + FixturePath("qwen3_tiny");
  const std::vector<std::string> commands = {
      "logits" + model + " --ids 1,2 --out " + dir + "/l.safetensors --kv-cache fp16",
      "generate" + model + " --prompt-ids 1,2 --kv-cache fp16",
      "run --tasks perplexity --report \"\" --db " + dir + "/run.sqlite --kv-cache fp16",
      "bench --preset tiny --db " + dir + "/bench.sqlite --kv-cache fp16",
  };
  for (const std::string& command : commands) {
    const auto r = RunFp4lab(command);
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.output;
    EXPECT_NE(r.output.find("--kv-cache"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("valid: auto, bf16, fp8"), std::string::npos) << r.output;
  }
  const auto label = RunFp4lab("run --tasks perplexity --report \"\" --db " + dir + "/run.sqlite --precisions "
                               "nvfp4+kv-int8");
  EXPECT_EQ(label.exit_code, 2) << label.output;
  EXPECT_NE(label.output.find("--precisions"), std::string::npos) << label.output;
  EXPECT_NE(label.output.find("int8"), std::string::npos) << label.output;
  for (const char* file : {"l.safetensors", "run.sqlite", "bench.sqlite"}) EXPECT_FALSE(fs::exists(dir + "/" + file));
}

// `logits --kv-cache fp8` and `logits --precision bf16+kv-fp8` run the same engine; the default (auto on a checkpoint
// that declares no KV quantization) is the bf16 cache, and the FP8 cache changes the logits.
TEST(KvCacheCli, FlagAndLabelSelectTheSameFp8Cache) {
  const std::string dir = TempDir("kv_cache_cli_logits");
  const std::string base = "logits --model " + FixturePath("llama_tiny") + " --ids 1,5,9,13,17,21,25,29 --json --out ";
  const auto flag = RunFp4lab(base + dir + "/flag.safetensors --kv-cache fp8");
  const auto label = RunFp4lab(base + dir + "/label.safetensors --precision bf16+kv-fp8");
  const auto plain = RunFp4lab(base + dir + "/plain.safetensors");
  ASSERT_EQ(flag.exit_code, 0) << flag.output;
  ASSERT_EQ(label.exit_code, 0) << label.output;
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(flag.output.find("\"precision\": \"bf16+kv-fp8\""), std::string::npos) << flag.output;
  EXPECT_NE(plain.output.find("\"kv_cache\": \"bf16\""), std::string::npos) << plain.output;
  const auto fp8 = testing::ReadReference<float>(dir + "/flag.safetensors", "logits");
  EXPECT_EQ(fp8, testing::ReadReference<float>(dir + "/label.safetensors", "logits"));
  EXPECT_NE(fp8, testing::ReadReference<float>(dir + "/plain.safetensors", "logits"));
}

// One run holds bf16, bf16 + FP8 KV, W4A16 and W4A16 + FP8 KV: --kv-cache fp8 gives a label without its own suffix
// the FP8 cache, every label is stored with its engine's axes, the reference keeps the bf16 cache, and the report's
// verdict splits the deltas into weight and cache effects.
TEST(KvCacheCli, RunStoresBothAxesAndTheReportAttributesDeltas) {
  const std::string dir = TempDir("kv_cache_cli_run");
  const std::string text = dir + "/text.txt";
  const std::string stories = *ReadFile(FixturePath("text/three_stories.txt"));
  std::ofstream(text) << stories.substr(0, 800);
  const std::string db = dir + "/kv.sqlite";
  // --kv-cache fp8 gives a label without its own suffix the FP8 cache; the reference keeps bf16.
  const auto r = RunFp4lab("run --tasks perplexity --precisions nvfp4-w4a16,bf16+kv-fp8,nvfp4-w4a16+kv-bf16 "
                            "--kv-cache fp8 --ppl-data " + text + " --ctx 32 --calib \"\" --report \"\" --db " + db);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto metrics = testing::MetricsOf(db);
  for (const char* label : {"bf16", "bf16+kv-fp8", "nvfp4-w4a16", "nvfp4-w4a16+kv-fp8"}) {
    EXPECT_TRUE(metrics.count(std::string("perplexity/") + label + "/token_ppl")) << label;
  }
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  ASSERT_TRUE(store.ok());
  const auto runs = (*store)->ListRuns();
  ASSERT_TRUE(runs.ok() && runs->size() == 1);
  const nlohmann::json engines = runs->back().provenance["engines"];
  EXPECT_EQ(engines["bf16"]["kv_cache"], "bf16");
  EXPECT_EQ(engines["bf16+kv-fp8"]["kv_cache"], "fp8");
  EXPECT_EQ(engines["bf16+kv-fp8"]["precision"], "bf16");
  EXPECT_EQ(engines["nvfp4-w4a16+kv-fp8"]["precision"], "nvfp4-w4a16");
  EXPECT_EQ(engines["nvfp4-w4a16"]["kv_cache"], "bf16");  // its own +kv-bf16 won over --kv-cache fp8

  const auto report = RunFp4lab("report --db " + db + " --format json --out " + dir + "/report.json");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  const std::string json = *ReadFile(dir + "/report.json");
  EXPECT_NE(json.find("Weights vs KV cache"), std::string::npos);
  EXPECT_NE(json.find("KV-cache effect"), std::string::npos);
  EXPECT_NE(json.find("Interaction"), std::string::npos);
  // The interaction cell is combined - weight - cache, from the stored deltas of this run.
  const double weight = metrics.at("perplexity/nvfp4-w4a16/token_ppl") - metrics.at("perplexity/bf16/token_ppl");
  const double cache = metrics.at("perplexity/bf16+kv-fp8/token_ppl") - metrics.at("perplexity/bf16/token_ppl");
  const double combined =
      metrics.at("perplexity/nvfp4-w4a16+kv-fp8/token_ppl") - metrics.at("perplexity/bf16/token_ppl");
  EXPECT_GT(std::fabs(cache), 0.0);
  const nlohmann::json doc = nlohmann::json::parse(json);
  bool found = false;
  for (const auto& section : doc["sections"]) {
    if (section["id"] != "verdict") continue;
    for (const auto& block : section["blocks"]) {
      if (!block.contains("rows") || block.value("caption", "").find("Weights vs KV cache") == std::string::npos) {
        continue;
      }
      for (const auto& row : block["rows"]) {
        if (row[0]["text"] != "perplexity" || row[1]["text"] != "token_ppl") continue;
        found = true;
        EXPECT_NEAR(row[6]["value"].get<double>(), combined - weight - cache, 1e-9 * std::fabs(combined) + 1e-12);
      }
    }
  }
  EXPECT_TRUE(found) << json.substr(0, 2000);
}

}  // namespace
}  // namespace fp4lab
