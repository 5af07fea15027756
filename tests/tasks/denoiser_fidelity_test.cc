#include "tasks/denoiser_fidelity.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tasks/fake_block_denoiser.h"
#include "tasks/registry.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FakeBlockDenoiser;
using testing::FakeDenoiserOptions;
using testing::FakeDiffusionModel;

constexpr int kCanvas = 8;
constexpr int kPromptTokens = 6;

FakeDenoiserOptions Denoiser(float noise = 0.0f, int canvas = kCanvas) {
  FakeDenoiserOptions options;
  options.canvas_length = canvas;
  options.max_context = 64;
  options.seed = 7;
  options.noise = noise;
  return options;
}

std::unique_ptr<DenoiserFidelityTask> MakeTask(const std::string& name, int prompts = 2) {
  DenoiserFidelityOptions options;
  options.data_path = testing::WriteTempText(name, "Once upon a time there was a little fox who liked to run.");
  options.prompts = prompts;
  options.prompt_tokens = kPromptTokens;
  options.seed = 11;
  auto task = DenoiserFidelityTask::Create(options);
  EXPECT_TRUE(task.ok()) << task.status().ToString();
  return task.ok() ? std::move(task).value() : nullptr;
}

// Runs `task` on `model`; a candidate reads the attachments of `reference_samples`.
std::vector<SampleRecord> RunTask(Task& task, LanguageModel& model, const std::string& precision,
                                  const std::vector<SampleRecord>* reference_samples) {
  std::vector<SampleRecord> samples;
  TaskRun run{model, precision, reference_samples == nullptr};
  run.should_run = [](const std::string&) { return true; };
  run.emit = [&](std::vector<SampleRecord>&& batch) {
    for (SampleRecord& s : batch) {
      s.precision = precision;
      samples.push_back(std::move(s));
    }
    return Status::Ok();
  };
  if (reference_samples != nullptr) {
    run.reference_attachment = [reference_samples](const std::string& id) -> Result<std::vector<std::string>> {
      for (const SampleRecord& s : *reference_samples) {
        if (s.sample_id == id) return s.attachment;
      }
      return std::vector<std::string>{};
    };
  }
  const Status status = task.Run(run);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return samples;
}

// KL(softmax(p) || softmax(q)) in long double, written independently of tasks/fidelity.cc.
double ExactKl(std::span<const float> p, std::span<const float> q) {
  const auto log_softmax = [](std::span<const float> x) {
    long double max = x[0], sum = 0.0L;
    for (float v : x) max = std::max<long double>(max, v);
    for (float v : x) sum += std::exp(static_cast<long double>(v) - max);
    std::vector<long double> out;
    for (float v : x) out.push_back(static_cast<long double>(v) - max - std::log(sum));
    return out;
  };
  const auto lp = log_softmax(p), lq = log_softmax(q);
  long double kl = 0.0L;
  for (size_t v = 0; v < lp.size(); ++v) kl += std::exp(lp[v]) * (lp[v] - lq[v]);
  return static_cast<double>(kl);
}

std::vector<double> Numbers(const SampleRecord& s, const std::string& key) {
  return s.data[key].get<std::vector<double>>();
}

TEST(DenoiserCanvasTest, IsSplitMix64ModuloTheVocabulary) {
  // SplitMix64's first output for seed 0 is 0xE220A8397B1DCDAF (the published reference sequence).
  EXPECT_EQ(DenoiserCanvas(1, 1000, 0)[0], static_cast<TokenId>(0xE220A8397B1DCDAFull % 1000));
  const std::vector<TokenId> canvas = DenoiserCanvas(200, 5, 3);
  ASSERT_EQ(canvas.size(), 200u);
  for (TokenId id : canvas) EXPECT_TRUE(id >= 0 && id < 5);
  EXPECT_EQ(canvas, DenoiserCanvas(200, 5, 3));
  EXPECT_NE(canvas, DenoiserCanvas(200, 5, 4));
}

TEST(DenoiserFidelityTest, CandidateSeesTheReferenceInputsAndItsKlMatchesAnIndependentComputation) {
  auto task = MakeTask("denoiser_fidelity_kl");
  FakeDiffusionModel reference(Denoiser());
  FakeDiffusionModel candidate(Denoiser(0.5f));
  const std::vector<SampleRecord> ref_samples = RunTask(*task, reference, "bf16", nullptr);
  const std::vector<SampleRecord> cand_samples = RunTask(*task, candidate, "nvfp4", &ref_samples);
  ASSERT_EQ(ref_samples.size(), 2u);
  ASSERT_EQ(cand_samples.size(), 2u);

  for (size_t i = 0; i < 2; ++i) {
    const SampleRecord& ref = ref_samples[i];
    const SampleRecord& cand = cand_samples[i];
    EXPECT_EQ(ref.sample_id, "prompt" + std::to_string(i));
    EXPECT_EQ(ref.attachment.size(), 2u * kCanvas);
    // The reference compares with itself.
    for (const char* key : {"step1_kld", "step2_kld"}) {
      for (double kld : Numbers(ref, key)) EXPECT_EQ(kld, 0.0);
    }
    // Both models: Reset, Commit(prompt), then step 1 without and step 2 with self-conditioning, on the canvas
    // DenoiserCanvas(canvas, vocab, seed + i); the step-2 inputs are bit-identical.
    const std::vector<TokenId> canvas = DenoiserCanvas(kCanvas, 259, 11 + i);
    for (FakeDiffusionModel* model : {&reference, &candidate}) {
      const FakeBlockDenoiser& d = model->denoiser();
      ASSERT_EQ(d.commits().size(), 2u);
      EXPECT_EQ(d.commits().back().size(), static_cast<size_t>(kPromptTokens));
      EXPECT_EQ(d.commits().back().front(), 1);  // BOS
    }
    const auto& ref_calls = reference.denoiser().calls();
    const auto& cand_calls = candidate.denoiser().calls();
    const auto& ref_step2 = ref_calls[2 * i + 1];
    const auto& cand_step1 = cand_calls[2 * i];
    const auto& cand_step2 = cand_calls[2 * i + 1];
    EXPECT_EQ(cand_step1.canvas, canvas);
    EXPECT_TRUE(cand_step1.self_conditioning.empty());
    EXPECT_EQ(cand_step2.canvas, canvas);
    EXPECT_EQ(cand_step2.self_conditioning, ref_step2.self_conditioning);
    ASSERT_EQ(cand_step2.self_conditioning.size(), static_cast<size_t>(kCanvas) * 259);

    // Exact KL from fresh fakes fed the same inputs. The stored KL is within kld_bound (the 16-bit storage error,
    // tasks/reference_logprobs.h) plus 1e-12 for double rounding (259 terms, each below 10 in magnitude, relative
    // error 2^-52 each, summed: < 6e-13).
    const std::vector<TokenId> prompt = reference.denoiser().commits()[i];
    for (int step = 1; step <= 2; ++step) {
      FakeBlockDenoiser fresh_ref(Denoiser()), fresh_cand(Denoiser(0.5f));
      std::vector<float> p(kCanvas * 259), q(kCanvas * 259);
      const std::vector<float>& sc = step == 1 ? std::vector<float>() : cand_step2.self_conditioning;
      ASSERT_TRUE(fresh_ref.Commit(prompt).ok());
      ASSERT_TRUE(fresh_cand.Commit(prompt).ok());
      ASSERT_TRUE(fresh_ref.Denoise(canvas, sc, p).ok());
      ASSERT_TRUE(fresh_cand.Denoise(canvas, sc, q).ok());
      const std::string key = "step" + std::to_string(step);
      const std::vector<double> kld = Numbers(cand, key + "_kld"), bound = Numbers(cand, key + "_kld_bound");
      const std::vector<bool> same = cand.data[key + "_same_top"].get<std::vector<bool>>();
      ASSERT_EQ(kld.size(), static_cast<size_t>(kCanvas));
      double positive = 0.0;
      for (size_t j = 0; j < kld.size(); ++j) {
        const std::span<const float> pj(p.data() + j * 259, 259), qj(q.data() + j * 259, 259);
        EXPECT_NEAR(kld[j], ExactKl(pj, qj), bound[j] + 1e-12) << key << " position " << j;
        positive += kld[j];
        const auto argmax = [](std::span<const float> x) { return std::max_element(x.begin(), x.end()) - x.begin(); };
        EXPECT_EQ(same[j], argmax(pj) == argmax(qj));
      }
      EXPECT_GT(positive, 0.0);
    }
  }
}

TEST(DenoiserFidelityTest, AggregatesBothStepsWithStderrOverPrompts) {
  auto task = MakeTask("denoiser_fidelity_aggregate");
  const auto sample = [](const char* id, std::vector<double> kld, std::vector<bool> same) {
    SampleRecord s;
    s.sample_id = id;
    s.precision = "nvfp4";
    s.data = {{"step1_kld", kld}, {"step1_kld_bound", std::vector<double>(kld.size(), 0.001)},
              {"step1_same_top", same}, {"step2_kld", kld}, {"step2_kld_bound", std::vector<double>(kld.size(), 0.0)},
              {"step2_same_top", same}};
    return s;
  };
  const auto metrics = task->Aggregate({sample("prompt1", {0.3, 0.5}, {false, false}),
                                        sample("prompt0", {0.1, 0.3}, {true, false})});
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  std::map<std::string, MetricRecord> by_name;
  for (const MetricRecord& m : *metrics) by_name[m.metric] = m;
  // Positions 0.1, 0.3, 0.3, 0.5: mean 0.3; per-prompt means 0.2 and 0.4, stderr = std(0.2, 0.4) / sqrt(2) = 0.1.
  EXPECT_DOUBLE_EQ(by_name.at("step1/kld_mean").value, 0.3);
  EXPECT_NEAR(*by_name.at("step1/kld_mean").stderr_value, 0.1, 1e-15);
  EXPECT_DOUBLE_EQ(by_name.at("step2/kld_max").value, 0.5);
  EXPECT_DOUBLE_EQ(by_name.at("step1/same_top_p").value, 25.0);  // 1 of 4
  // Per-prompt 50 % and 0 %: stderr = std(50, 0) / sqrt(2) = 25.
  EXPECT_NEAR(*by_name.at("step1/same_top_p").stderr_value, 25.0, 1e-12);
  EXPECT_DOUBLE_EQ(by_name.at("step1/kld_bound_mean").value, 0.001);
  EXPECT_EQ(by_name.at("positions").value, 4.0);
  EXPECT_EQ(by_name.at("positions").n, 2);
  EXPECT_FALSE(task->Aggregate({sample("prompt0", {0.1}, {true, false})}).ok());  // ragged
  EXPECT_FALSE(task->Aggregate({sample("chunk0", {0.1}, {true})}).ok());
}

TEST(DenoiserFidelityTest, PreflightRefusesCausalModelsMismatchedCanvasesAndMissingReference) {
  auto task = MakeTask("denoiser_fidelity_preflight");
  FakeDiffusionModel reference(Denoiser());
  FakeDiffusionModel candidate(Denoiser(0.5f));
  EXPECT_TRUE(task->Preflight(candidate, &reference).ok());
  EXPECT_EQ(task->Preflight(candidate, nullptr).code(), StatusCode::kFailedPrecondition);
  testing::FakeLanguageModel causal;
  const Status status = task->Preflight(causal, &reference);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("use the fidelity task"), std::string::npos) << status.message();
  FakeDiffusionModel wider(Denoiser(0.0f, 16));
  EXPECT_EQ(task->Preflight(wider, &reference).code(), StatusCode::kInvalidArgument);
  FakeDiffusionModel too_long(Denoiser(0.0f, 60));  // 6 prompt tokens + 60 > 64
  EXPECT_EQ(task->Preflight(too_long, &too_long).code(), StatusCode::kInvalidArgument);
  auto many = MakeTask("denoiser_fidelity_short_text", 50);  // 50 prompts x 5 text tokens > the text
  EXPECT_EQ(many->Preflight(candidate, &reference).code(), StatusCode::kInvalidArgument);
}

TEST(DenoiserFidelityTest, CandidateWithoutStoredReferenceFailsClearly) {
  auto task = MakeTask("denoiser_fidelity_missing");
  FakeDiffusionModel candidate(Denoiser(0.5f));
  TaskRun run{candidate, "nvfp4", false};
  run.should_run = [](const std::string&) { return true; };
  run.emit = [](std::vector<SampleRecord>&&) { return Status::Ok(); };
  run.reference_attachment = [](const std::string&) -> Result<std::vector<std::string>> {
    return std::vector<std::string>{};
  };
  const Status status = task->Run(run);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("prompt0"), std::string::npos) << status.message();
}

TEST(DenoiserFidelityTest, RegistryRebuildsTheTaskFromItsStoredConfig) {
  auto task = MakeTask("denoiser_fidelity_registry");
  auto rebuilt = CreateTask("denoiser_fidelity", task->Config(), "unused");
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ((*rebuilt)->Config(), task->Config());
  EXPECT_NE(task->Config()["convention"].get<std::string>().find("self-conditioned"), std::string::npos);
}

}  // namespace
}  // namespace fp4lab
