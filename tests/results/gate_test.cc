// Tests of the regression gate: the rules schema (typos are errors), every kind x mode pass/fail, statistical
// mode against noise and against a constructed regression, the exit-code contract, and the JUnit XML /
// Markdown / JSON outputs (the XML is parsed back by a small checker and validated against the common JUnit
// schema's required elements and attributes).
#include "results/gate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "results/gate_output.h"
#include "results/gate_rules.h"
#include "results/stats.h"
#include "reports/report_test_store.h"

namespace fp4lab {
namespace {

using ::testing::HasSubstr;
using testing::MakeSample;
using testing::ScratchDir;
using testing::TestStore;
using testing::WriteAll;

// ---------------------------------------------------------------------------------------------------------
// Rules schema

Result<std::vector<GateRule>> Parse(const std::string& text) {
  return ParseGateRules(nlohmann::json::parse(text), "gate.json");
}

TEST(GateRulesTest, ParsesEveryField) {
  auto rules = Parse(R"({"rules": [
      {"name": "acc drop", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "against": "reference",
       "kind": "absolute", "min": -0.02, "mode": "statistical"},
      {"name": "speed", "task": "latency", "metric": "decode_tok_s@b1", "precision": "nvfp4",
       "against": "baseline", "kind": "ratio", "min": 0.95, "max": 10, "reference_precision": "fp8"},
      {"name": "floor", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "min": 0.25}]})");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  ASSERT_EQ(rules->size(), 3u);
  const GateRule& a = (*rules)[0];
  EXPECT_EQ(a.against, GateAgainst::kReference);
  EXPECT_EQ(a.kind, GateKind::kAbsolute);
  EXPECT_EQ(a.mode, GateMode::kStatistical);
  EXPECT_EQ(a.min, -0.02);
  EXPECT_FALSE(a.max.has_value());
  EXPECT_EQ(a.reference_precision, "bf16");
  const GateRule& b = (*rules)[1];
  EXPECT_EQ(b.against, GateAgainst::kBaseline);
  EXPECT_EQ(b.kind, GateKind::kRatio);
  EXPECT_EQ(b.mode, GateMode::kPoint);
  EXPECT_EQ(b.max, 10.0);
  EXPECT_EQ(b.reference_precision, "fp8");
  EXPECT_EQ((*rules)[2].against, GateAgainst::kNone);
  // The JSON form parses back to the same rule.
  auto again = ParseGateRules(nlohmann::json::array({GateRuleToJson(b)}), "round trip");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(GateRuleToJson((*again)[0]), GateRuleToJson(b));
}

TEST(GateRulesTest, TypoedKeyNamesRuleIndexKeyAndValidKeys) {
  auto rules = Parse(R"({"rules": [
      {"name": "ok", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "min": 0.2},
      {"name": "typo", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "mni": 0.2}]})");
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(rules.status().message(), HasSubstr("gate.json: rules[1]"));
  EXPECT_THAT(rules.status().message(), HasSubstr("unknown key \"mni\""));
  for (const std::string& key : GateRuleKeys()) EXPECT_THAT(rules.status().message(), HasSubstr(key));
}

TEST(GateRulesTest, RejectsMalformedRules) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"rules": []})", "is empty"},
      {R"({"rulez": []})", "unknown top-level key \"rulez\""},
      {R"({"rules": {}})", "must be an array"},
      {R"([{"task": "mmlu", "metric": "acc", "precision": "nvfp4", "min": 0}])", "missing required key \"name\""},
      {R"([{"name": "a", "task": "mmlu", "metric": "acc", "precision": "nvfp4"}])", "needs a bound"},
      {R"([{"name": "a", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "min": 2, "max": 1}])",
       "exceeds \"max\""},
      {R"([{"name": "a", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "kind": "ratio", "min": 1}])",
       "set \"against\""},
      {R"([{"name": "a", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "kind": "relativ", "min": 1}])",
       "expected one of absolute, relative, ratio"},
      {R"([{"name": "a", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "min": "0.5"}])",
       "must be a finite number"},
      {R"([{"name": "a", "task": "mmlu", "metric": "acc", "precision": "bf16", "against": "reference", "min": 0}])",
       "is its own reference"},
      {R"([{"name": "a", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "min": 0},
           {"name": "a", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "min": 0}])",
       "duplicate rule name"},
  };
  for (const auto& [text, expected] : cases) {
    auto rules = Parse(text);
    ASSERT_FALSE(rules.ok()) << text;
    EXPECT_EQ(rules.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(rules.status().message(), HasSubstr(expected)) << text;
  }
}

// The rules shipped in docs/examples/gate.json and every complete rules block in docs/GATE.md follow the schema.
TEST(GateRulesTest, ShippedExamplesParse) {
  const std::string root = FP4LAB_SOURCE_DIR;
  auto example = LoadGateRules(root + "/docs/examples/gate.json");
  ASSERT_TRUE(example.ok()) << example.status().ToString();
  EXPECT_GE(example->size(), 4u);
  const std::string doc = testing::ReadAll(root + "/docs/GATE.md");
  ASSERT_FALSE(doc.empty());
  int blocks = 0;
  for (size_t at = doc.find("```json\n{\"rules\""); at != std::string::npos;
       at = doc.find("```json\n{\"rules\"", at + 1)) {
    const size_t start = at + 8;
    const std::string text = doc.substr(start, doc.find("```", start) - start);
    auto rules = ParseGateRules(nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false), "docs/GATE.md");
    EXPECT_TRUE(rules.ok()) << rules.status().ToString();
    ++blocks;
  }
  EXPECT_GE(blocks, 1);
}

// ---------------------------------------------------------------------------------------------------------
// Rule evaluation on in-memory rows

MetricRecord M(const std::string& task, const std::string& precision, const std::string& metric, double value,
               std::optional<double> stderr_value = std::nullopt, int64_t n = 0) {
  MetricRecord m;
  m.task = task;
  m.precision = precision;
  m.metric = metric;
  m.value = value;
  m.stderr_value = stderr_value;
  m.n = n;
  return m;
}

ComparisonRecord C(const std::string& task, const std::string& precision, const std::string& metric, double delta,
                   double low, double high) {
  ComparisonRecord c;
  c.task = task;
  c.precision = precision;
  c.reference_precision = "bf16";
  c.metric = metric;
  c.delta = delta;
  c.ci_low = low;
  c.ci_high = high;
  c.method = "paired_bootstrap";
  return c;
}

GateRule Rule(const std::string& task, const std::string& metric, GateAgainst against, GateKind kind,
              std::optional<double> min, std::optional<double> max, GateMode mode = GateMode::kPoint,
              const std::string& precision = "nvfp4") {
  GateRule rule;
  rule.name = task + "/" + metric;
  rule.task = task;
  rule.metric = metric;
  rule.precision = precision;
  rule.against = against;
  rule.kind = kind;
  rule.min = min;
  rule.max = max;
  rule.mode = mode;
  return rule;
}

// A run with a small accuracy drop (0.60 -> 0.57), a perplexity rise (10.0 -> 10.3), faster decode
// (100 -> 150 tok/s) and smaller weights (1000 -> 300 bytes).
GateRunData Candidate() {
  GateRunData run;
  run.run.id = 7;
  run.metrics = {M("mmlu", "bf16", "acc", 0.60, 0.0346, 200),
                 M("mmlu", "nvfp4", "acc", 0.57, 0.035, 200),
                 M("perplexity", "bf16", "token_ppl", 10.0),
                 M("perplexity", "nvfp4", "token_ppl", 10.3),
                 M("latency", "bf16", "decode_tok_s@b1", 100.0),
                 M("latency", "nvfp4", "decode_tok_s@b1", 150.0),
                 M("latency", "bf16", "weight_bytes", 1000.0),
                 M("latency", "nvfp4", "weight_bytes", 300.0),
                 M("fidelity", "nvfp4", "kld_mean", 0.05, 0.01),
                 M("fidelity", "nvfp4-w4a16", "kld_mean", 0.08, 0.01),
                 M("mmlu", "nvfp4", "acc/anatomy", 0.45, std::nullopt, 100),
                 M("mmlu", "nvfp4", "acc/astronomy", 0.30, std::nullopt, 100),
                 M("latency", "nvfp4", "ttft_ms", 12.0)};
  // Stored delta is the difference of the stored values, as the runner computes it.
  run.comparisons = {C("mmlu", "nvfp4", "acc", 0.57 - 0.60, -0.07, 0.01)};
  return run;
}

GateRuleResult Eval(const GateRule& rule, const GateRunData& candidate, const GateRunData* baseline = nullptr) {
  const GateSampleLoader no_samples = [](int64_t, const std::string&, const std::string&) {
    return Result<std::vector<SampleRecord>>(std::vector<SampleRecord>{});
  };
  return EvaluateGateRule(rule, candidate, baseline, no_samples, GateOptions{});
}

void ExpectOutcome(const GateRuleResult& r, GateOutcome expected) {
  EXPECT_EQ(r.outcome, expected) << r.rule.name << ": " << r.reason;
  EXPECT_FALSE(r.reason.empty());
  EXPECT_EQ(r.reason.find('\n'), std::string::npos) << "reason must be one line";
}

TEST(GateRuleTest, AbsoluteValuePointMode) {
  const GateRunData run = Candidate();
  ExpectOutcome(Eval(Rule("mmlu", "acc", GateAgainst::kNone, GateKind::kAbsolute, 0.5, std::nullopt), run),
                GateOutcome::kPass);
  GateRuleResult fail = Eval(Rule("mmlu", "acc", GateAgainst::kNone, GateKind::kAbsolute, 0.6, std::nullopt), run);
  ExpectOutcome(fail, GateOutcome::kFail);
  EXPECT_EQ(fail.observed, 0.57);
  EXPECT_THAT(fail.reason, HasSubstr("below min 0.6"));
  ExpectOutcome(Eval(Rule("latency", "ttft_ms", GateAgainst::kNone, GateKind::kAbsolute, std::nullopt, 10.0), run),
                GateOutcome::kFail);
}

TEST(GateRuleTest, AbsoluteDeltaAgainstReference) {
  const GateRunData run = Candidate();
  // delta = 0.57 - 0.60 = -0.03.
  GateRuleResult pass =
      Eval(Rule("mmlu", "acc", GateAgainst::kReference, GateKind::kAbsolute, -0.05, std::nullopt), run);
  ExpectOutcome(pass, GateOutcome::kPass);
  EXPECT_NEAR(*pass.observed, -0.03, 1e-12);  // one subtraction of doubles: exact to ~1 ulp
  ExpectOutcome(Eval(Rule("mmlu", "acc", GateAgainst::kReference, GateKind::kAbsolute, -0.02, std::nullopt), run),
                GateOutcome::kFail);
}

TEST(GateRuleTest, RelativeAgainstReference) {
  const GateRunData run = Candidate();
  // (10.3 - 10.0) / 10.0 = 0.03.
  GateRuleResult pass =
      Eval(Rule("perplexity", "token_ppl", GateAgainst::kReference, GateKind::kRelative, std::nullopt, 0.05), run);
  ExpectOutcome(pass, GateOutcome::kPass);
  EXPECT_NEAR(*pass.observed, 0.03, 1e-12);
  ExpectOutcome(
      Eval(Rule("perplexity", "token_ppl", GateAgainst::kReference, GateKind::kRelative, std::nullopt, 0.02), run),
      GateOutcome::kFail);
}

TEST(GateRuleTest, RatioForLatencyAndMemory) {
  const GateRunData run = Candidate();
  GateRuleResult speed =
      Eval(Rule("latency", "decode_tok_s@b1", GateAgainst::kReference, GateKind::kRatio, 1.2, std::nullopt), run);
  ExpectOutcome(speed, GateOutcome::kPass);
  EXPECT_DOUBLE_EQ(*speed.observed, 1.5);
  ExpectOutcome(
      Eval(Rule("latency", "decode_tok_s@b1", GateAgainst::kReference, GateKind::kRatio, 1.6, std::nullopt), run),
      GateOutcome::kFail);
  ExpectOutcome(
      Eval(Rule("latency", "weight_bytes", GateAgainst::kReference, GateKind::kRatio, std::nullopt, 0.35), run),
      GateOutcome::kPass);
  ExpectOutcome(
      Eval(Rule("latency", "weight_bytes", GateAgainst::kReference, GateKind::kRatio, std::nullopt, 0.25), run),
      GateOutcome::kFail);
}

TEST(GateRuleTest, AgainstBaselineRun) {
  const GateRunData run = Candidate();
  GateRunData baseline;
  baseline.run.id = 3;
  baseline.metrics = {M("latency", "nvfp4", "decode_tok_s@b1", 160.0), M("perplexity", "nvfp4", "token_ppl", 10.3)};
  // 150 / 160 = 0.9375.
  ExpectOutcome(Eval(Rule("latency", "decode_tok_s@b1", GateAgainst::kBaseline, GateKind::kRatio, 0.9, std::nullopt),
                     run, &baseline),
                GateOutcome::kPass);
  ExpectOutcome(Eval(Rule("latency", "decode_tok_s@b1", GateAgainst::kBaseline, GateKind::kRatio, 0.95, std::nullopt),
                     run, &baseline),
                GateOutcome::kFail);
  ExpectOutcome(Eval(Rule("perplexity", "token_ppl", GateAgainst::kBaseline, GateKind::kRelative, std::nullopt, 0.0),
                     run, &baseline),
                GateOutcome::kPass);
  // No baseline given, or the baseline lacks the metric: cannot evaluate.
  ExpectOutcome(
      Eval(Rule("latency", "decode_tok_s@b1", GateAgainst::kBaseline, GateKind::kRatio, 0.9, std::nullopt), run),
      GateOutcome::kError);
  GateRuleResult missing =
      Eval(Rule("latency", "ttft_ms", GateAgainst::kBaseline, GateKind::kRatio, std::nullopt, 1.1), run, &baseline);
  ExpectOutcome(missing, GateOutcome::kError);
  EXPECT_THAT(missing.reason, HasSubstr("run #3 has no metric latency/nvfp4/ttft_ms"));
}

TEST(GateRuleTest, UnknownMetricIsAnErrorNamingIt) {
  GateRuleResult r =
      Eval(Rule("mmlu", "acc_typo", GateAgainst::kNone, GateKind::kAbsolute, 0.1, std::nullopt), Candidate());
  ExpectOutcome(r, GateOutcome::kError);
  EXPECT_THAT(r.reason, HasSubstr("run #7 has no metric mmlu/nvfp4/acc_typo"));
  EXPECT_THAT(r.reason, HasSubstr("acc"));  // lists what the run does have
}

TEST(GateRuleTest, StatisticalAgainstReferenceUsesStoredInterval) {
  GateRunData run = Candidate();
  // Noise: delta -0.03 is below -0.02 (point fails) but its interval [-0.07, 0.01] reaches it.
  const GateRule noise =
      Rule("mmlu", "acc", GateAgainst::kReference, GateKind::kAbsolute, -0.02, std::nullopt, GateMode::kStatistical);
  GateRuleResult r = Eval(noise, run);
  ExpectOutcome(r, GateOutcome::kPass);
  EXPECT_EQ(r.ci_low, -0.07);
  EXPECT_EQ(r.ci_high, 0.01);
  GateRule point = noise;
  point.mode = GateMode::kPoint;
  ExpectOutcome(Eval(point, run), GateOutcome::kFail);
  // Relative: the interval is divided by |r| = 0.6: [-0.1167, 0.0167] reaches min -0.04.
  GateRule relative = noise;
  relative.kind = GateKind::kRelative;
  relative.min = -0.04;
  GateRuleResult rel = Eval(relative, run);
  ExpectOutcome(rel, GateOutcome::kPass);
  EXPECT_DOUBLE_EQ(*rel.ci_low, -0.07 / 0.6);
  // Ratio: 0.57 / 0.60 = 0.95 is below min 0.96, but 1 + [-0.07, 0.01] / 0.6 = [0.883, 1.017] reaches it.
  GateRule ratio = noise;
  ratio.kind = GateKind::kRatio;
  ratio.min = 0.96;
  ExpectOutcome(Eval(ratio, run), GateOutcome::kPass);
  GateRule ratio_point = ratio;
  ratio_point.mode = GateMode::kPoint;
  ExpectOutcome(Eval(ratio_point, run), GateOutcome::kFail);
  // A constructed regression: the whole interval lies below the bound.
  run.comparisons = {C("mmlu", "nvfp4", "acc", 0.57 - 0.60, -0.05, -0.025)};
  r = Eval(noise, run);
  ExpectOutcome(r, GateOutcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("lies entirely below min -0.02"));
  // ... and as a ratio: 1 + [-0.05, -0.025] / 0.6 = [0.917, 0.958], entirely below 0.96.
  GateRuleResult ratio_fail = Eval(ratio, run);
  ExpectOutcome(ratio_fail, GateOutcome::kFail);
  EXPECT_DOUBLE_EQ(*ratio_fail.ci_high, 1.0 - 0.025 / 0.6);
  // A stored comparison of some other statistic cannot bound this quantity.
  run.comparisons = {C("mmlu", "nvfp4", "acc", -0.5, -0.6, -0.4)};
  ExpectOutcome(Eval(noise, run), GateOutcome::kError);
  // No stored comparison at all.
  run.comparisons.clear();
  GateRuleResult none = Eval(noise, run);
  ExpectOutcome(none, GateOutcome::kError);
  EXPECT_THAT(none.reason, HasSubstr("no paired comparison"));
}

TEST(GateRuleTest, StatisticalFloorUsesWilsonInterval) {
  const GateRunData run = Candidate();
  // 45/100 correct: below the 0.5 floor as a point, but its 95% Wilson interval (~[0.356, 0.548]) reaches 0.5.
  GateRule floor =
      Rule("mmlu", "acc/anatomy", GateAgainst::kNone, GateKind::kAbsolute, 0.5, std::nullopt, GateMode::kStatistical);
  GateRuleResult r = Eval(floor, run);
  ExpectOutcome(r, GateOutcome::kPass);
  auto wilson = WilsonInterval(45, 100);
  ASSERT_TRUE(wilson.ok());
  EXPECT_EQ(r.interval_method, "wilson");
  EXPECT_DOUBLE_EQ(*r.ci_low, wilson->low);
  EXPECT_DOUBLE_EQ(*r.ci_high, wilson->high);
  // 30/100: the whole interval (~[0.219, 0.396]) lies below 0.5.
  floor.metric = "acc/astronomy";
  ExpectOutcome(Eval(floor, run), GateOutcome::kFail);
}

TEST(GateRuleTest, StatisticalValueUsesStderrOtherwise) {
  const GateRunData run = Candidate();
  // kld_mean 0.05 ± 1.96 * 0.01 = [0.0304, 0.0696] reaches max 0.04; 0.08 ± 0.0196 does not.
  GateRule kld =
      Rule("fidelity", "kld_mean", GateAgainst::kNone, GateKind::kAbsolute, std::nullopt, 0.04, GateMode::kStatistical);
  GateRuleResult r = Eval(kld, run);
  ExpectOutcome(r, GateOutcome::kPass);
  EXPECT_EQ(r.interval_method, "normal");
  EXPECT_DOUBLE_EQ(*r.ci_low, 0.05 - kZ95TwoSided * 0.01);
  kld.precision = "nvfp4-w4a16";
  ExpectOutcome(Eval(kld, run), GateOutcome::kFail);
  // No stderr and not an accuracy: statistical mode cannot evaluate.
  GateRuleResult ttft = Eval(
      Rule("latency", "ttft_ms", GateAgainst::kNone, GateKind::kAbsolute, std::nullopt, 20.0, GateMode::kStatistical),
      run);
  ExpectOutcome(ttft, GateOutcome::kError);
  EXPECT_THAT(ttft.reason, HasSubstr("no stderr"));
}

TEST(GateRuleTest, RatioNeedsPositiveComparator) {
  GateRunData run = Candidate();
  run.metrics.push_back(M("latency", "bf16", "ttft_ms", 0.0));
  ExpectOutcome(Eval(Rule("latency", "ttft_ms", GateAgainst::kReference, GateKind::kRatio, std::nullopt, 1.1), run),
                GateOutcome::kError);
  ExpectOutcome(Eval(Rule("latency", "ttft_ms", GateAgainst::kReference, GateKind::kRelative, std::nullopt, 1.1), run),
                GateOutcome::kError);
}

// ---------------------------------------------------------------------------------------------------------
// Through the result store: baseline bootstrap, run resolution, exit codes.

constexpr int kItems = 200;

// Baseline: items 0..119 correct (acc 0.6). `lost` correct items turn wrong, `gained` wrong items turn right.
std::vector<double> Scores(int lost, int gained) {
  std::vector<double> scores(kItems, 0.0);
  for (int i = 0; i < 120; ++i) scores[i] = 1.0;
  for (int i = 0; i < lost; ++i) scores[i] = 0.0;
  for (int i = 0; i < gained; ++i) scores[120 + i] = 1.0;
  return scores;
}

int64_t AddAccuracyRun(TestStore& db, const std::string& tag, const std::vector<double>& scores) {
  const int64_t run = db.AddRun(tag);
  double correct = 0;
  std::vector<SampleRecord> samples;
  for (int i = 0; i < kItems; ++i) {
    correct += scores[i];
    samples.push_back(
        MakeSample(run, "mmlu", "nvfp4", "q/" + std::to_string(i), scores[i], scores[i] > 0 ? "correct" : "wrong"));
  }
  db.Metric(run, "mmlu", "nvfp4", "acc", correct / kItems, std::nullopt, kItems, "", "better");
  db.Commit();
  db.Samples(samples);
  return run;
}

class GateStoreTest : public ::testing::Test {
 protected:
  GateReport Gate(const std::vector<GateRule>& rules, GateOptions options) {
    return EvaluateGate(db_.store(), rules, options);
  }
  ScratchDir dir_;
  TestStore db_{dir_.File("results.sqlite")};
};

GateRule BaselineDrop(GateMode mode, GateKind kind = GateKind::kAbsolute, double min = -0.01) {
  GateRule rule = Rule("mmlu", "acc", GateAgainst::kBaseline, kind, min, std::nullopt, mode);
  rule.name = std::string("acc vs baseline ") + GateModeName(mode) + " " + GateKindName(kind);
  return rule;
}

TEST_F(GateStoreTest, StatisticalModeDoesNotFailIdenticalRuns) {
  AddAccuracyRun(db_, "main", Scores(0, 0));
  const int64_t candidate = AddAccuracyRun(db_, "", Scores(0, 0));
  GateOptions options;
  options.baseline = "main";
  GateReport report = Gate({BaselineDrop(GateMode::kStatistical), BaselineDrop(GateMode::kPoint)}, options);
  ASSERT_TRUE(report.setup_error.empty()) << report.setup_error;
  EXPECT_EQ(report.run_id, candidate);
  ASSERT_EQ(report.results.size(), 2u);
  ExpectOutcome(report.results[0], GateOutcome::kPass);
  // Identical paired scores: every resampled mean difference is exactly 0.
  EXPECT_EQ(report.results[0].ci_low, 0.0);
  EXPECT_EQ(report.results[0].ci_high, 0.0);
  EXPECT_EQ(report.results[0].interval_method, "paired_bootstrap");
  EXPECT_EQ(GateExitCode(report), 0);
}

TEST_F(GateStoreTest, StatisticalModeToleratesNoiseButCatchesARegression) {
  const int64_t baseline = AddAccuracyRun(db_, "main", Scores(0, 0));
  // Noise: 10 right->wrong, 6 wrong->right: delta = -0.02, below min -0.01 as a point. The paired standard error
  // is sqrt((16/200 - 0.02^2) / 200) = 0.020, so the 95% interval is about -0.02 ± 0.039 and its upper end
  // (~+0.019) clears -0.01 by ~1.4 standard errors, far beyond the bootstrap's Monte Carlo error (~0.1 SE at
  // B = 2000).
  const int64_t noisy = AddAccuracyRun(db_, "", Scores(10, 6));
  // Regression: 60 right->wrong: delta = -0.30 with standard error sqrt((0.3 - 0.09) / 200) = 0.032, so the
  // interval's upper end (~-0.24) is far below -0.01.
  const int64_t regressed = AddAccuracyRun(db_, "", Scores(60, 0));
  GateOptions options;
  options.baseline = std::to_string(baseline);

  options.run_id = noisy;
  GateReport noise = Gate({BaselineDrop(GateMode::kStatistical), BaselineDrop(GateMode::kPoint),
                           BaselineDrop(GateMode::kStatistical, GateKind::kRatio, 0.98)},
                          options);
  ASSERT_TRUE(noise.setup_error.empty()) << noise.setup_error;
  EXPECT_EQ(noise.baseline_run_id, baseline);
  ExpectOutcome(noise.results[0], GateOutcome::kPass);
  EXPECT_NEAR(*noise.results[0].observed, -0.02, 1e-12);
  EXPECT_LT(*noise.results[0].ci_low, -0.02);
  EXPECT_GT(*noise.results[0].ci_high, -0.01);
  ExpectOutcome(noise.results[1], GateOutcome::kFail);  // the same data fails in point mode
  ExpectOutcome(noise.results[2], GateOutcome::kPass);  // ratio 0.967 < 0.98, interval reaches it
  EXPECT_EQ(GateExitCode(noise), 1);

  options.run_id = regressed;
  GateReport regression = Gate(
      {BaselineDrop(GateMode::kStatistical), BaselineDrop(GateMode::kStatistical, GateKind::kRatio, 0.98)}, options);
  ExpectOutcome(regression.results[0], GateOutcome::kFail);
  EXPECT_LT(*regression.results[0].ci_high, -0.01);
  ExpectOutcome(regression.results[1], GateOutcome::kFail);
  EXPECT_EQ(GateExitCode(regression), 1);
}

TEST_F(GateStoreTest, BootstrapNeedsIdenticalItemsAndMeanMetrics) {
  const int64_t baseline = AddAccuracyRun(db_, "main", Scores(0, 0));
  const int64_t run = db_.AddRun();
  std::vector<SampleRecord> samples;
  for (int i = 0; i < kItems / 2; ++i)
    samples.push_back(MakeSample(run, "mmlu", "nvfp4", "q/" + std::to_string(i), 1.0, "correct"));
  db_.Metric(run, "mmlu", "nvfp4", "acc", 1.0, std::nullopt, kItems / 2);
  db_.Commit();
  db_.Samples(samples);
  GateOptions options;
  options.run_id = run;
  options.baseline = std::to_string(baseline);
  GateReport report = Gate({BaselineDrop(GateMode::kStatistical)}, options);
  ExpectOutcome(report.results[0], GateOutcome::kError);
  EXPECT_THAT(report.results[0].reason, HasSubstr("identical item sets"));
  EXPECT_EQ(GateExitCode(report), 2);
}

TEST_F(GateStoreTest, DefaultsToLatestCompleteRunAndResolvesTags) {
  const int64_t complete = AddAccuracyRun(db_, "nightly", Scores(0, 0));
  db_.AddRun("", RunStatus::kFailed);
  GateReport report = Gate({Rule("mmlu", "acc", GateAgainst::kNone, GateKind::kAbsolute, 0.5, std::nullopt)}, {});
  EXPECT_EQ(report.run_id, complete);
  EXPECT_EQ(GateExitCode(report), 0);
  GateOptions options;
  options.baseline = "no-such-tag";
  report = Gate({BaselineDrop(GateMode::kPoint)}, options);
  EXPECT_THAT(report.setup_error, HasSubstr("no complete run tagged \"no-such-tag\""));
  EXPECT_EQ(GateExitCode(report), 2);
}

TEST_F(GateStoreTest, ExitCodeContract) {
  AddAccuracyRun(db_, "", Scores(0, 0));  // acc 0.6
  const GateRule pass = Rule("mmlu", "acc", GateAgainst::kNone, GateKind::kAbsolute, 0.5, std::nullopt);
  GateRule fail = pass;
  fail.name = "too strict";
  fail.min = 0.7;
  GateRule error = pass;
  error.name = "unknown metric";
  error.metric = "accuracy";
  EXPECT_EQ(GateExitCode(Gate({pass}, {})), 0);
  EXPECT_EQ(GateExitCode(Gate({pass, fail}, {})), 1);
  EXPECT_EQ(GateExitCode(Gate({pass, error}, {})), 2);
  // A gate that cannot check every rule does not pass: cannot-evaluate wins over fail.
  EXPECT_EQ(GateExitCode(Gate({fail, error}, {})), 2);
  GateOptions missing_run;
  missing_run.run_id = 999;
  GateReport report = Gate({pass}, missing_run);
  EXPECT_THAT(report.setup_error, HasSubstr("999"));
  EXPECT_TRUE(report.results.empty());
  EXPECT_EQ(GateExitCode(report), 2);
}

TEST(GateRunTest, CannotEvaluateCasesExitTwo) {
  ScratchDir dir;
  const std::string rules = dir.File("gate.json");
  WriteAll(rules, R"({"rules": [{"name": "floor", "task": "mmlu", "metric": "acc", "precision": "nvfp4",
                                 "min": 0.5}]})");
  // Missing database file.
  GateReport report = RunGate(dir.File("missing.sqlite"), rules, {});
  EXPECT_FALSE(report.setup_error.empty());
  EXPECT_EQ(GateExitCode(report), 2);
  // Empty database (schema, no runs).
  const std::string db_path = dir.File("empty.sqlite");
  { TestStore db(db_path); }
  report = RunGate(db_path, rules, {});
  EXPECT_THAT(report.setup_error, HasSubstr("no runs"));
  EXPECT_EQ(GateExitCode(report), 2);
  // Typo'd key in the rules file, reported before the database is touched.
  const std::string typo = dir.File("typo.json");
  WriteAll(typo, R"({"rules": [{"name": "floor", "task": "mmlu", "metric": "acc", "precison": "nvfp4",
                                "min": 0.5}]})");
  report = RunGate(db_path, typo, {});
  EXPECT_THAT(report.setup_error, HasSubstr("rules[0]"));
  EXPECT_THAT(report.setup_error, HasSubstr("\"precison\""));
  EXPECT_EQ(GateExitCode(report), 2);
  // Malformed JSON and a missing rules file.
  WriteAll(typo, "{\"rules\": [");
  EXPECT_EQ(GateExitCode(RunGate(db_path, typo, {})), 2);
  EXPECT_EQ(GateExitCode(RunGate(db_path, dir.File("none.json"), {})), 2);
}

// ---------------------------------------------------------------------------------------------------------
// Outputs

// A minimal XML 1.0 reader for well-formedness: one root element, properly nested and closed tags, quoted
// attributes without duplicates, only the five predefined entities and character references, no raw '<' or
// '&' in text or attribute values. Enough to parse back what RenderGateJUnitXml writes.
struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<XmlElement> children;
  std::string text;
};

class XmlReader {
 public:
  explicit XmlReader(const std::string& text) : s_(text) {}

  bool Parse(XmlElement* root, std::string* error) {
    SkipSpace();
    if (s_.compare(pos_, 5, "<?xml") == 0) {
      const size_t end = s_.find("?>", pos_);
      if (end == std::string::npos) return Fail("unterminated declaration", error);
      pos_ = end + 2;
    }
    SkipSpace();
    if (!Element(root, error)) return false;
    SkipSpace();
    if (pos_ != s_.size()) return Fail("content after the root element", error);
    return true;
  }

 private:
  bool Fail(const std::string& what, std::string* error) {
    *error = what + " at offset " + std::to_string(pos_);
    return false;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Name(std::string* name) {
    const size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                s_[pos_] == '-' || s_[pos_] == '.' || s_[pos_] == ':')) {
      ++pos_;
    }
    *name = s_.substr(start, pos_ - start);
    return !name->empty() && !std::isdigit(static_cast<unsigned char>((*name)[0]));
  }
  // Decodes text up to `stop`, validating entities.
  bool Chars(char stop, std::string* out, std::string* error) {
    while (pos_ < s_.size() && s_[pos_] != stop) {
      const char c = s_[pos_];
      if (c == '<') return Fail("raw '<'", error);
      if (c == '&') {
        const size_t end = s_.find(';', pos_);
        if (end == std::string::npos) return Fail("unterminated entity", error);
        const std::string entity = s_.substr(pos_ + 1, end - pos_ - 1);
        static const std::map<std::string, std::string> kEntities = {
            {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
        if (auto it = kEntities.find(entity); it != kEntities.end()) {
          *out += it->second;
        } else if (entity.size() > 1 && entity[0] == '#') {
          const long code = entity[1] == 'x' ? std::strtol(entity.c_str() + 2, nullptr, 16)
                                             : std::strtol(entity.c_str() + 1, nullptr, 10);
          if (code != 9 && code != 10 && code != 13 && code < 32) return Fail("invalid character reference", error);
          *out += static_cast<char>(code < 128 ? code : '?');
        } else {
          return Fail("unknown entity &" + entity + ";", error);
        }
        pos_ = end + 1;
        continue;
      }
      if (static_cast<unsigned char>(c) < 32 && c != '\t' && c != '\n' && c != '\r') {
        return Fail("control character", error);
      }
      *out += c;
      ++pos_;
    }
    return true;
  }
  bool Element(XmlElement* element, std::string* error) {
    if (pos_ >= s_.size() || s_[pos_] != '<') return Fail("expected '<'", error);
    ++pos_;
    if (!Name(&element->name)) return Fail("bad element name", error);
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size()) return Fail("unterminated start tag", error);
      if (s_.compare(pos_, 2, "/>") == 0) {
        pos_ += 2;
        return true;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      std::string attribute;
      if (!Name(&attribute)) return Fail("bad attribute name", error);
      if (pos_ + 1 >= s_.size() || s_[pos_] != '=' || (s_[pos_ + 1] != '"' && s_[pos_ + 1] != '\'')) {
        return Fail("attribute without a quoted value", error);
      }
      const char quote = s_[pos_ + 1];
      pos_ += 2;
      std::string value;
      if (!Chars(quote, &value, error)) return false;
      if (pos_ >= s_.size()) return Fail("unterminated attribute value", error);
      ++pos_;
      if (!element->attributes.emplace(attribute, value).second) return Fail("duplicate attribute", error);
    }
    while (true) {
      if (!Chars('<', &element->text, error)) return false;
      if (pos_ >= s_.size()) return Fail("unclosed element <" + element->name + ">", error);
      if (s_.compare(pos_, 2, "</") == 0) {
        pos_ += 2;
        std::string name;
        if (!Name(&name) || name != element->name) return Fail("mismatched end tag </" + name + ">", error);
        SkipSpace();
        if (pos_ >= s_.size() || s_[pos_] != '>') return Fail("bad end tag", error);
        ++pos_;
        return true;
      }
      element->children.emplace_back();
      if (!Element(&element->children.back(), error)) return false;
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
};

int Attr(const XmlElement& e, const std::string& name) {
  auto it = e.attributes.find(name);
  EXPECT_NE(it, e.attributes.end()) << "<" << e.name << "> lacks required attribute " << name;
  return it == e.attributes.end() ? -1 : std::stoi(it->second);
}

// Checks the elements and attributes the common JUnit XML schema requires, and that the counts add up.
void ExpectValidJUnit(const std::string& xml, int tests, int failures, int errors) {
  XmlElement root;
  std::string error;
  ASSERT_TRUE(XmlReader(xml).Parse(&root, &error)) << error << "\n" << xml;
  ASSERT_EQ(root.name, "testsuites");
  int total_tests = 0, total_failures = 0, total_errors = 0;
  for (const XmlElement& suite : root.children) {
    ASSERT_EQ(suite.name, "testsuite");
    EXPECT_TRUE(suite.attributes.count("name"));
    EXPECT_TRUE(suite.attributes.count("time"));
    int cases = 0, failed = 0, errored = 0;
    for (const XmlElement& child : suite.children) {
      if (child.name == "properties") {
        for (const XmlElement& p : child.children) {
          EXPECT_EQ(p.name, "property");
          EXPECT_TRUE(p.attributes.count("name") && p.attributes.count("value"));
        }
        continue;
      }
      ASSERT_EQ(child.name, "testcase");
      ++cases;
      EXPECT_TRUE(child.attributes.count("name"));
      EXPECT_TRUE(child.attributes.count("classname"));
      EXPECT_TRUE(child.attributes.count("time"));
      for (const XmlElement& result : child.children) {
        if (result.name == "failure" || result.name == "error") {
          EXPECT_TRUE(result.attributes.count("message"));
          EXPECT_TRUE(result.attributes.count("type"));
          (result.name == "failure" ? failed : errored)++;
        } else {
          EXPECT_EQ(result.name, "system-out");
        }
      }
    }
    EXPECT_EQ(Attr(suite, "tests"), cases);
    EXPECT_EQ(Attr(suite, "failures"), failed);
    EXPECT_EQ(Attr(suite, "errors"), errored);
    total_tests += cases;
    total_failures += failed;
    total_errors += errored;
  }
  EXPECT_EQ(Attr(root, "tests"), total_tests);
  EXPECT_EQ(Attr(root, "failures"), total_failures);
  EXPECT_EQ(Attr(root, "errors"), total_errors);
  EXPECT_EQ(total_tests, tests);
  EXPECT_EQ(total_failures, failures);
  EXPECT_EQ(total_errors, errors);
}

GateReport MixedReport() {
  const GateRunData run = Candidate();
  GateReport report;
  report.run_id = 7;
  GateRule pass = Rule("mmlu", "acc", GateAgainst::kNone, GateKind::kAbsolute, 0.5, std::nullopt);
  pass.name = "floor <\"quoted\" & 'escaped'> | pipe";
  GateRule fail = Rule("mmlu", "acc", GateAgainst::kReference, GateKind::kAbsolute, -0.02, std::nullopt);
  fail.name = "acc drop";
  GateRule error = Rule("mmlu", "acc_typo", GateAgainst::kNone, GateKind::kAbsolute, 0.1, std::nullopt);
  error.name = "typo\x01metric";
  for (const GateRule& rule : {pass, fail, error}) report.results.push_back(Eval(rule, run));
  return report;
}

TEST(GateOutputTest, JUnitIsWellFormedAndCountsMatch) {
  const GateReport report = MixedReport();
  const std::string xml = RenderGateJUnitXml(report, "2026-11-27T01:50:10");
  ExpectValidJUnit(xml, 3, 1, 1);
  XmlElement root;
  std::string error;
  ASSERT_TRUE(XmlReader(xml).Parse(&root, &error));
  // Names survive escaping; the forbidden control character became '?'.
  std::vector<std::string> names;
  for (const XmlElement& child : root.children[0].children) {
    if (child.name == "testcase") names.push_back(child.attributes.at("name"));
  }
  EXPECT_THAT(names, ::testing::ElementsAre("floor <\"quoted\" & 'escaped'> | pipe", "acc drop", "typo?metric"));
  EXPECT_EQ(root.children[0].attributes.at("timestamp"), "2026-11-27T01:50:10");
}

TEST(GateOutputTest, JUnitForSetupErrorHasOneErroredCase) {
  GateReport report;
  report.setup_error = "results.sqlite: the database holds no runs";
  ExpectValidJUnit(RenderGateJUnitXml(report, ""), 1, 0, 1);
}

TEST(GateOutputTest, MarkdownAndTextSummaries) {
  const GateReport report = MixedReport();
  const std::string md = RenderGateMarkdown(report);
  EXPECT_THAT(md, HasSubstr("CANNOT EVALUATE"));  // an error outranks the failure
  EXPECT_THAT(md, HasSubstr("| Result | Rule |"));
  EXPECT_THAT(md, HasSubstr("❌ fail"));
  EXPECT_THAT(md, HasSubstr("floor &lt;\"quoted\" &amp; 'escaped'&gt; \\| pipe"));  // cannot break the table
  int rows = 0;
  for (size_t at = md.find("\n| "); at != std::string::npos; at = md.find("\n| ", at + 1)) ++rows;
  EXPECT_EQ(rows, 1 + 3);  // header + one row per rule
  const std::string text = RenderGateText(report);
  EXPECT_THAT(text, HasSubstr("acc drop"));
  EXPECT_THAT(text, HasSubstr("exit code 2"));
}

TEST(GateOutputTest, JsonRoundTrips) {
  GateReport report = MixedReport();
  report.baseline_run_id = 3;
  const nlohmann::json json = GateReportToJson(report);
  EXPECT_EQ(json["exit_code"], 2);
  EXPECT_EQ(json["counts"]["fail"], 1);
  auto back = GateReportFromJson(json, "gate.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(GateReportToJson(*back), json);
  auto bad = GateReportFromJson(nlohmann::json{{"format", "other"}}, "x.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("x.json"));
}

}  // namespace
}  // namespace fp4lab
