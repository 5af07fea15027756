// `fp4lab run` with the tasks made for block-diffusion models: listed in --help, mmlu_generative runs on a causal
// model and stores its convention, denoiser_fidelity refuses a causal model with exit 2 before a run is stored.
#include <gtest/gtest.h>


#include "harness/cli_util.h"
#include "results/result_store.h"
#include "run_metrics.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::RunFp4lab;
using testing::TempDir;

TEST(DiffusionTasksCli, HelpListsTheNewTasks) {
  const auto r = RunFp4lab("run --help");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* task : {"mmlu_generative", "denoiser_fidelity", "latency"}) {
    EXPECT_NE(r.output.find(task), std::string::npos) << task;
  }
}

TEST(DiffusionTasksCli, MmluGenerativeRunsOnACausalModelAndStoresItsConvention) {
  const std::string dir = TempDir("diffusion_cli_mmlu_generative");
  const auto r = RunFp4lab("run --report \"\" --tasks mmlu_generative --precisions bf16 --limit 1 --mmlu-subjects "
                           "world_religions --db " + dir + "/r.sqlite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto store = ResultStore::Open(dir + "/r.sqlite", OpenMode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto runs = (*store)->ListRuns();
  ASSERT_TRUE(runs.ok() && runs->size() == 1u);
  auto tasks = (*store)->ListTasks(runs->front().id);
  ASSERT_TRUE(tasks.ok() && tasks->size() == 1u);
  EXPECT_EQ((*tasks)[0].task, "mmlu_generative");
  EXPECT_NE((*tasks)[0].config.value("convention", "").find("lm-eval mmlu_generative"), std::string::npos);
  EXPECT_EQ((*tasks)[0].config.value("max_new_tokens", 0), 256);
  auto samples = (*store)->ListSamples(runs->front().id, "mmlu_generative", "bf16");
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_TRUE((*samples)[0].data.contains("response"));
}

TEST(DiffusionTasksCli, DenoiserFidelityOnACausalModelExitsTwoBeforeStoringARun) {
  const std::string dir = TempDir("diffusion_cli_denoiser_fidelity");
  const auto r = RunFp4lab("run --report \"\" --tasks denoiser_fidelity --db " + dir + "/r.sqlite");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("is not a block-diffusion model"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("use the fidelity task"), std::string::npos) << r.output;
  testing::ExpectNoRunStored(dir + "/r.sqlite");
}

}  // namespace
}  // namespace fp4lab
