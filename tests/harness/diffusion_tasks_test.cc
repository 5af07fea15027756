// harness/diffusion_tasks.h: the task names `run` substitutes on a block-diffusion model, and which checkpoints are
// block-diffusion models.
#include "harness/diffusion_tasks.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace fp4lab {
namespace {

using Names = std::vector<std::string>;

TEST(DiffusionTasks, MmluAndFidelityBecomeTheirDiffusionCounterpartsOthersStay) {
  const DiffusionTaskList list = SubstituteDiffusionTasks({"humaneval", "mmlu", "perplexity", "fidelity", "latency"});
  EXPECT_EQ(list.tasks, (Names{"humaneval", "mmlu_generative", "perplexity", "denoiser_fidelity", "latency"}));
  ASSERT_EQ(list.substitutions.size(), 2u);
  EXPECT_EQ(list.substitutions[0].rfind("mmlu runs as mmlu_generative (", 0), 0u) << list.substitutions[0];
  EXPECT_EQ(list.substitutions[1].rfind("fidelity runs as denoiser_fidelity (", 0), 0u) << list.substitutions[1];
}

TEST(DiffusionTasks, ATaskNamedTwiceRunsOnce) {
  const DiffusionTaskList list = SubstituteDiffusionTasks({"mmlu_generative", "mmlu", "denoiser_fidelity"});
  EXPECT_EQ(list.tasks, (Names{"mmlu_generative", "denoiser_fidelity"}));
  EXPECT_EQ(list.substitutions.size(), 1u);
}

TEST(DiffusionTasks, OnlyADiffusionConfigIsABlockDiffusionCheckpoint) {
  EXPECT_TRUE(IsBlockDiffusionCheckpoint(testing::FixturePath("diffusiongemma_tiny")));
  EXPECT_FALSE(IsBlockDiffusionCheckpoint(testing::FixturePath("gemma4moe_tiny")));
  EXPECT_FALSE(IsBlockDiffusionCheckpoint(testing::FixturePath("no_such_dir")));
}

}  // namespace
}  // namespace fp4lab
