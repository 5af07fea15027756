#include "tasks/causal_only.h"

#include <string>

#include <gtest/gtest.h>

#include "tasks/fake_block_denoiser.h"
#include "tasks/fidelity.h"
#include "tasks/mmlu_task.h"
#include "tasks/perplexity.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FakeDiffusionModel;
using testing::FakeLanguageModel;

void ExpectRefused(const Status& status, const std::string& task, const std::string& instead) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_EQ(status.message().rfind(task + ": ", 0), 0u) << status.message();
  EXPECT_NE(status.message().find("block-diffusion model"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("no causal next-token distribution"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("use the " + instead + " task"), std::string::npos) << status.message();
}

TEST(CausalOnlyTest, TellsDiffusionModelsFromCausalOnes) {
  FakeLanguageModel causal;
  FakeDiffusionModel diffusion;
  EXPECT_FALSE(IsBlockDiffusionModel(causal));
  EXPECT_TRUE(IsBlockDiffusionModel(diffusion));
  EXPECT_EQ(BlockDenoiserFacts(diffusion), &diffusion.denoiser());
  EXPECT_TRUE(RefuseBlockDiffusionModel(causal, "perplexity", "denoiser_fidelity").ok());
  ExpectRefused(RefuseBlockDiffusionModel(diffusion, "perplexity", "denoiser_fidelity"), "perplexity",
                "denoiser_fidelity");
}

TEST(CausalOnlyTest, PerplexityFidelityAndMmluRefuseADiffusionModelInPreflight) {
  const std::string text = testing::WriteTempText("causal_only_text", std::string(400, 'a'));
  FakeDiffusionModel diffusion;
  FakeLanguageModel causal;

  PerplexityOptions ppl;
  ppl.data_path = text;
  auto perplexity = PerplexityTask::Create(ppl);
  ASSERT_TRUE(perplexity.ok()) << perplexity.status().ToString();
  ExpectRefused((*perplexity)->Preflight(diffusion, nullptr), "perplexity", "denoiser_fidelity");
  EXPECT_TRUE((*perplexity)->Preflight(causal, nullptr).ok());

  FidelityOptions fid;
  fid.data_path = text;
  fid.ctx = 16;
  auto fidelity = FidelityTask::Create(fid);
  ASSERT_TRUE(fidelity.ok()) << fidelity.status().ToString();
  ExpectRefused((*fidelity)->Preflight(diffusion, &diffusion), "fidelity", "denoiser_fidelity");
  ExpectRefused((*fidelity)->Preflight(diffusion, nullptr), "fidelity", "denoiser_fidelity");
  EXPECT_TRUE((*fidelity)->Preflight(causal, &causal).ok());

  MmluOptions mmlu;
  mmlu.data_dir = testing::SourcePath("datasets/mmlu");
  mmlu.subjects = {"abstract_algebra"};
  mmlu.limit = 1;
  auto task = MmluTask::Create(mmlu);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  ExpectRefused((*task)->Preflight(diffusion, nullptr), "mmlu", "mmlu_generative");
  EXPECT_TRUE((*task)->Preflight(causal, nullptr).ok());
}

}  // namespace
}  // namespace fp4lab
