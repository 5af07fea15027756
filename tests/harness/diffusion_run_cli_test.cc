// `fp4lab run` end to end on the real diffusion_gemma code path (issue 16): the tiny DiffusionGemma fixture runs
// humaneval, mmlu, fidelity and latency (mmlu and fidelity as their diffusion counterparts mmlu_generative and
// denoiser_fidelity, harness/diffusion_tasks.h) in bf16 and weight-only NVFP4, and `fp4lab report` names
// the diffusion conventions; a causal-only task (perplexity) is refused with exit 2 before a run is stored.
//
// The fixture's weights are random, so every score is meaningless: these tests check the pipeline (each task stores
// samples and metrics in each precision, the run completes) and the conventions it records, never accuracy.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "harness/cli_util.h"
#include "results/result_store.h"
#include "run_metrics.h"
#include "test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;
using testing::FixturePath;
using testing::RunFp4lab;
using testing::TempDir;

// TempDir(name)/model: the weights and config of tests/fixtures/diffusiongemma_tiny with the tokenizer and the
// 2-step generation config of tests/fixtures/diffusiongemma_text (its README says why a test-only copy).
std::string DiffusionTextModelDir(const std::string& name) {
  const fs::path model = fs::path(TempDir(name)) / "model";
  fs::create_directories(model);
  for (const char* file : {"config.json", "model.safetensors"}) {
    fs::copy_file(FixturePath(std::string("diffusiongemma_tiny/") + file), model / file);
  }
  for (const char* file : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    fs::copy_file(FixturePath(std::string("diffusiongemma_text/") + file), model / file);
  }
  return model.string();
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(DiffusionRunCli, TheTokenizerRoundTripsText) {
  const std::string model = DiffusionTextModelDir("diffusion_run_cli_tokenizer");
  const auto r = RunFp4lab("tokenize --model " + model + " --text \"def f(x):\n\treturn x  # é\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("vocabulary 256, bos 2, eos [1]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("round trip: exact"), std::string::npos) << r.output;
}

TEST(DiffusionRunCli, AllDiffusionTasksRunInBothPrecisionsAndTheReportNamesTheirConventions) {
  const std::string model = DiffusionTextModelDir("diffusion_run_cli_all");
  const std::string dir = fs::path(model).parent_path().string();
  // --limit 1: one HumanEval problem and one MMLU question; --max-new-tokens 16: one canvas for both generating
  // tasks (mmlu_generative's default 256 would fill the fixture's whole 256-token context).
  // The task names: on a diffusion model mmlu runs as mmlu_generative, fidelity as denoiser_fidelity.
  const auto r = RunFp4lab("run --model " + model + " --precisions bf16,nvfp4-w4a16 "
                           "--tasks humaneval,mmlu,fidelity,latency --allow-code-exec --limit 1 "
                           "--max-new-tokens 16 --mmlu-subjects world_religions --report \"\" --db " + dir +
                           "/r.sqlite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is a block-diffusion model: mmlu runs as mmlu_generative"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is a block-diffusion model: fidelity runs as denoiser_fidelity"), std::string::npos);

  auto store = ResultStore::Open(dir + "/r.sqlite", OpenMode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto runs = (*store)->ListRuns();
  ASSERT_TRUE(runs.ok() && runs->size() == 1u);
  EXPECT_EQ(runs->front().status, RunStatus::kComplete);
  const int64_t run = runs->front().id;
  for (const char* task : {"humaneval", "mmlu_generative", "denoiser_fidelity", "latency"}) {
    for (const char* precision : {"bf16", "nvfp4-w4a16"}) {
      auto samples = (*store)->ListSamples(run, task, precision);
      ASSERT_TRUE(samples.ok()) << samples.status().ToString();
      EXPECT_FALSE(samples->empty()) << task << " at " << precision;
    }
  }
  auto tasks = (*store)->ListTasks(run);
  ASSERT_TRUE(tasks.ok());
  for (const TaskRecord& t : *tasks) {
    if (t.task == "mmlu_generative") EXPECT_EQ(t.config.value("max_new_tokens", 0), 16);
    if (t.task == "humaneval") EXPECT_EQ(t.config.value("max_new_tokens", 0), 16);
  }
  // The latency task took the block-diffusion path (tasks/diffusion_latency.h), not the causal prefill/decode one.
  auto latency = (*store)->ListSamples(run, "latency", "nvfp4-w4a16");
  ASSERT_TRUE(latency.ok() && !latency->empty());
  EXPECT_EQ(latency->front().sample_id.rfind("diffusion", 0), 0u) << latency->front().sample_id;

  const auto report = RunFp4lab("report --db " + dir + "/r.sqlite --out " + dir + "/r.html");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  const std::string html = ReadText(dir + "/r.html");
  EXPECT_NE(html.find("id=\"diffusion\""), std::string::npos);
  EXPECT_NE(html.find("MMLU, generative. Convention: lm-eval mmlu_generative"), std::string::npos);
  EXPECT_NE(html.find("Denoiser fidelity. Convention: "), std::string::npos);
  EXPECT_EQ(html.find("Convention: not stored"), std::string::npos);
  EXPECT_NE(html.find("Block-diffusion latency. Convention: one whole block-diffusion generation"), std::string::npos);
}

TEST(DiffusionRunCli, PerplexityIsRefusedWithExitTwoNamingDenoiserFidelity) {
  const std::string model = DiffusionTextModelDir("diffusion_run_cli_perplexity");
  const std::string db = fs::path(model).parent_path().string() + "/r.sqlite";
  const auto r = RunFp4lab("run --model " + model + " --tasks perplexity --report \"\" --db " + db);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("is a block-diffusion model"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("denoiser_fidelity"), std::string::npos) << r.output;
  testing::ExpectNoRunStored(db);
}

}  // namespace
}  // namespace fp4lab
