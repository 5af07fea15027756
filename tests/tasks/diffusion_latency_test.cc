#include "tasks/diffusion_latency.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tasks/fake_block_denoiser.h"
#include "tasks/latency.h"

namespace fp4lab {
namespace {

using testing::FakeDenoiserOptions;
using testing::FakeDiffusionModel;

// A sampler with a fixed plan: Reset, Commit(prompt), then for canvas k `steps[k]` Denoise calls and a Commit of
// the canvas; returns `tokens` tokens and tokens_per_forward = tokens / forwards. `lie` adds one to the forwards it
// reports.
DiffusionSampler PlannedSampler(std::vector<int> steps, int64_t tokens, bool lie = false) {
  return [=](BlockDenoiser& d, std::span<const TokenId> prompt, int, uint64_t) -> Result<DiffusionGeneration> {
    d.Reset();
    FP4LAB_RETURN_IF_ERROR(d.Commit(prompt));
    const size_t c = static_cast<size_t>(d.canvas_length()), v = static_cast<size_t>(d.vocab_size());
    std::vector<int32_t> canvas(c, 5);
    std::vector<float> logits(c * v);
    DiffusionGeneration generation;
    DiffusionStats& stats = generation.stats;
    for (int s : steps) {
      for (int i = 0; i < s; ++i) FP4LAB_RETURN_IF_ERROR(d.Denoise(canvas, {}, logits));
      FP4LAB_RETURN_IF_ERROR(d.Commit(canvas));
      stats.steps_per_canvas.push_back(s);
      stats.decoder_forwards += s;
    }
    stats.encoder_commits = 1 + static_cast<int64_t>(steps.size());
    generation.tokens.assign(static_cast<size_t>(tokens), 7);
    stats.tokens_per_forward = static_cast<double>(tokens) / static_cast<double>(stats.decoder_forwards);
    if (lie) ++stats.decoder_forwards;
    return generation;
  };
}

std::unique_ptr<LatencyTask> MakeTask(int repetitions = 2) {
  LatencyOptions options;
  options.decode_prompt = 16;
  options.decode_tokens = 16;
  options.repetitions = repetitions;
  options.warmup = 1;
  auto task = LatencyTask::Create(options);
  EXPECT_TRUE(task.ok());
  return task.ok() ? std::move(task).value() : nullptr;
}

Result<std::vector<SampleRecord>> RunLatency(Task& task, LanguageModel& model, DiffusionSampler sampler) {
  std::vector<SampleRecord> samples;
  TaskRun run{model, "bf16", true};
  run.should_run = [](const std::string&) { return true; };
  run.emit = [&](std::vector<SampleRecord>&& batch) {
    for (SampleRecord& s : batch) samples.push_back(std::move(s));
    return Status::Ok();
  };
  run.diffusion_sampler = std::move(sampler);
  FP4LAB_RETURN_IF_ERROR(task.Run(run));
  return samples;
}

FakeDenoiserOptions Denoiser() {
  FakeDenoiserOptions options;
  options.canvas_length = 8;
  options.max_context = 64;
  return options;
}

TEST(DiffusionLatencyTest, TimesWholeGenerationsAndCountsStepsCanvasesAndForwards) {
  auto task = MakeTask();
  FakeDiffusionModel model(Denoiser());
  const auto samples = RunLatency(*task, model, PlannedSampler({3, 5}, 12));
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  ASSERT_EQ(samples->size(), 3u);
  // P = min(16, 64 - 8 - 1) = 16 seeded ids; warmup + 2 repetitions, each committing the prompt and two canvases.
  EXPECT_EQ((*samples)[0].sample_id, "diffusion@p16/rep0");
  EXPECT_EQ((*samples)[1].sample_id, "diffusion@p16/rep1");
  EXPECT_EQ(model.denoiser().commits().size(), 9u);
  EXPECT_EQ(model.denoiser().commits()[0].size(), 16u);
  EXPECT_EQ(model.denoiser().calls().size(), 24u);
  const SampleRecord& rep = (*samples)[0];
  EXPECT_EQ(rep.data["max_new_tokens"], 16);  // min(16, 64 - 8 - 16)
  EXPECT_EQ(rep.data["steps_per_canvas"], nlohmann::json({3, 5}));
  EXPECT_EQ(rep.data["decoder_forwards"], 8);
  EXPECT_EQ(rep.data["encoder_commits"], 3);
  const double seconds = rep.data["seconds"].get<double>();
  EXPECT_GT(seconds, 0.0);
  EXPECT_DOUBLE_EQ(rep.score, 12.0 / seconds);
  // The first canvas is done before the whole generation is.
  EXPECT_GT(rep.data["ttfc_ms"].get<double>(), 0.0);
  EXPECT_LE(rep.data["ttfc_ms"].get<double>(), 1e3 * seconds);
  // Each Commit and each step timed on its own: the prompt and the two canvases; 3 + 5 steps. Neither canvas
  // converged (the planned sampler reports none), so both ran max_denoising_steps.
  EXPECT_EQ(rep.data["commit_tokens"], nlohmann::json({16, 8, 8}));
  ASSERT_EQ(rep.data["commit_ms"].size(), 3u);
  ASSERT_EQ(rep.data["step_ms"].size(), 8u);
  double timed_ms = 0.0;
  for (const auto& ms : rep.data["commit_ms"]) timed_ms += ms.get<double>();
  for (const auto& ms : rep.data["step_ms"]) timed_ms += ms.get<double>();
  EXPECT_LE(timed_ms, 1e3 * seconds);  // parts of the generation's time
  EXPECT_EQ(rep.data["canvases_at_max_steps"], 2);
  EXPECT_FALSE(rep.data.contains("max_denoising_steps"));  // no Engine to read it from
  const SampleRecord& memory = (*samples)[2];
  EXPECT_EQ(memory.sample_id, "diffusion_memory");
  EXPECT_EQ(memory.data["self_conditioning_bytes"], 2 * 8 * 259 * 4);

  auto metrics = task->Aggregate(*samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  std::map<std::string, MetricRecord> by_name;
  for (const MetricRecord& m : *metrics) by_name[m.metric] = m;
  EXPECT_DOUBLE_EQ(by_name.at("steps_per_canvas").value, 4.0);
  EXPECT_EQ(by_name.at("steps_per_canvas").n, 4);        // two canvases per repetition
  EXPECT_DOUBLE_EQ(by_name.at("tokens_per_forward").value, 12.0 / 8.0);  // the sampler's, mean over repetitions
  const double s0 = (*samples)[0].data["seconds"].get<double>();
  const double s1 = (*samples)[1].data["seconds"].get<double>();
  EXPECT_DOUBLE_EQ(by_name.at("diffusion_tok_s").value, (12.0 / s0 + 12.0 / s1) / 2);
  EXPECT_DOUBLE_EQ(by_name.at("diffusion_canvas_tok_s").value, (64.0 / s0 + 64.0 / s1) / 2);
  EXPECT_EQ(by_name.at("self_conditioning_bytes").value, 2 * 8 * 259 * 4);
  EXPECT_EQ(by_name.count("ttfc_ms"), 1u);
  EXPECT_DOUBLE_EQ(by_name.at("canvases_at_max_steps").value, 2.0);
  EXPECT_EQ(by_name.at("step_ms_p50").n, 16);  // 8 steps in each of 2 repetitions
  EXPECT_EQ(by_name.at("prompt_commit_ms").n, 2);
  EXPECT_EQ(by_name.at("canvas_commit_ms").n, 4);  // the planned sampler commits both canvases, in 2 repetitions
  EXPECT_EQ(by_name.count("weight_bytes"), 0u);  // no Engine behind the fake
}

TEST(DiffusionLatencyTest, RefusesWithoutASamplerAndCatchesASamplerThatMiscounts) {
  auto task = MakeTask(1);
  FakeDiffusionModel model(Denoiser());
  EXPECT_EQ(RunLatency(*task, model, nullptr).status().code(), StatusCode::kFailedPrecondition);
  const auto lying = RunLatency(*task, model, PlannedSampler({2}, 4, true));
  EXPECT_EQ(lying.status().code(), StatusCode::kInternal);
  EXPECT_NE(lying.status().message().find("3 decoder forwards"), std::string::npos) << lying.status().message();
}

TEST(DiffusionLatencyTest, AggregateRejectsMalformedDiffusionSamples) {
  auto task = MakeTask(1);
  SampleRecord s;
  s.sample_id = "diffusion@p16/rep0";
  s.data = {{"seconds", 1.0}, {"tokens_generated", 4}, {"decoder_forwards", 2}, {"canvas_length", 8},
            {"ttfc_ms", 1.0}, {"tokens_per_forward", 2.0}};
  EXPECT_EQ(task->Aggregate({s}).status().code(), StatusCode::kInvalidArgument);  // no steps_per_canvas
  s.data["steps_per_canvas"] = {2};
  EXPECT_TRUE(task->Aggregate({s}).ok());
  s.data["step_ms"] = {1.0, "x"};
  EXPECT_EQ(task->Aggregate({s}).status().code(), StatusCode::kInvalidArgument);  // a timing that is not a number
  s.data["step_ms"] = {1.0, 2.0};
  EXPECT_TRUE(task->Aggregate({s}).ok());
  s.data["seconds"] = 0.0;
  EXPECT_EQ(task->Aggregate({s}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fp4lab
