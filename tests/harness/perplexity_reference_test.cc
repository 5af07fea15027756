// Both perplexity conventions on the real bundled model (stories260K, CPU, bf16 weights) against values computed
// independently with Hugging Face transformers + the lm-eval / llama.cpp definitions
// (tests/fixtures/stories260K/reference.json; datasets/SOURCES.md says how they were made).
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/file_util.h"
#include "tasks/perplexity.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::SourcePath;

// Tolerance: the reference ran float32 math on the same bf16 weights, so per-logit differences come only from
// summation order and libm (~1e-5 relative; logits here are |x| <~ 20, so ~2e-4 absolute at worst). A logit
// error e moves a token's NLL by at most 2e (its own logit and the log-sum-exp), so the mean NLL moves by at most
// ~4e-4 and PPL = exp(mean NLL) by at most ~4e-4 relative; in practice the errors are not all of one sign and are
// far smaller. 1e-3 relative bounds that, while any convention slip is much larger: not scoring the first token of
// each of the 20 stories moves token_ppl by ~1 %, scoring one row more or fewer per chunk moves ppl by ~0.5 % at
// ctx 128, and ctx 128 vs 512 differ by 36 %. Counts are integers and must match exactly.
constexpr double kRelativeTolerance = 1e-3;

class PerplexityReferenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions options;
    options.model_dir = SourcePath("datasets/models/stories260K");
    options.precision = "bf16";
    options.device = "cpu";
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value().release();
    auto reference = ReadJsonFile(FixturePath("stories260K/reference.json"));
    ASSERT_TRUE(reference.ok()) << reference.status().ToString();
    reference_ = new nlohmann::json(std::move(reference).value());
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
    delete reference_;
    reference_ = nullptr;
  }

  // Runs the task over every item and aggregates; metrics by name.
  static std::map<std::string, MetricRecord> Evaluate(PerplexityConvention convention, int ctx) {
    std::map<std::string, MetricRecord> by_name;
    auto task = PerplexityTask::Create(
        {.convention = convention, .ctx = ctx, .data_path = SourcePath("datasets/tinystories/tinystories_valid_sample.txt")});
    EXPECT_TRUE(task.ok()) << task.status().ToString();
    if (!task.ok() || engine_ == nullptr) return by_name;
    std::vector<SampleRecord> samples;
    TaskRun run{.model = *engine_,
                .precision = "bf16",
                .should_run = [](const std::string&) { return true; },
                .emit =
                    [&](std::vector<SampleRecord>&& batch) {
                      for (SampleRecord& s : batch) samples.push_back(std::move(s));
                      return Status::Ok();
                    },
                .progress = nullptr};
    const Status status = (*task)->Run(run);
    EXPECT_TRUE(status.ok()) << status.ToString();
    auto metrics = (*task)->Aggregate(samples);
    EXPECT_TRUE(metrics.ok()) << metrics.status().ToString();
    if (metrics.ok()) {
      for (const MetricRecord& m : *metrics) by_name[m.metric] = m;
    }
    return by_name;
  }

  static void ExpectRelative(double actual, const nlohmann::json& expected, const std::string& what) {
    ASSERT_TRUE(expected.is_number()) << what << " missing from reference.json";
    const double want = expected.get<double>();
    EXPECT_NEAR(actual, want, kRelativeTolerance * std::fabs(want)) << what;
  }

  static Engine* engine_;
  static nlohmann::json* reference_;
};

Engine* PerplexityReferenceTest::engine_ = nullptr;
nlohmann::json* PerplexityReferenceTest::reference_ = nullptr;

TEST_F(PerplexityReferenceTest, LmEvalMatchesTransformers) {
  ASSERT_NE(engine_, nullptr);
  ASSERT_EQ(engine_->MaxContext(), 512);  // the reference used max_seq_len 512 = the model's max context
  const nlohmann::json& want = (*reference_)["tinystories_valid_sample.txt:lmeval"];
  auto m = Evaluate(PerplexityConvention::kLmEval, 0);
  ASSERT_FALSE(m.empty());
  for (const char* count : {"docs", "tokens", "bytes", "words"}) {
    EXPECT_EQ(m[count].value, want[count].get<double>()) << count;
  }
  for (const char* metric : {"token_ppl", "byte_ppl", "word_ppl", "bits_per_byte", "nll_sum"}) {
    ExpectRelative(m[metric].value, want[metric], std::string("lmeval ") + metric);
  }
}

TEST_F(PerplexityReferenceTest, LlamaCppMatchesTransformersAtCtx128And512) {
  ASSERT_NE(engine_, nullptr);
  for (int ctx : {128, 512}) {
    const std::string key = "tinystories_valid_sample.txt:llamacpp:ctx" + std::to_string(ctx);
    const nlohmann::json& want = (*reference_)[key];
    auto m = Evaluate(PerplexityConvention::kLlamaCpp, ctx);
    ASSERT_FALSE(m.empty()) << key;
    EXPECT_EQ(m["chunks"].value, want["chunks"].get<double>()) << key;
    EXPECT_EQ(m["scored_tokens"].value, want["scored_tokens"].get<double>()) << key;
    ExpectRelative(m["ppl"].value, want["ppl"], key + " ppl");
    ASSERT_TRUE(m["ppl"].stderr_value.has_value()) << key;
    ExpectRelative(*m["ppl"].stderr_value, want["ppl_stderr"], key + " ppl_stderr");
  }
}

}  // namespace
}  // namespace fp4lab
