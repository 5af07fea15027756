#include "tasks/fidelity.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "tasks/fake_language_model.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FakeLanguageModel;
using testing::FakeModelOptions;

// Closed forms below are a dozen double operations on O(10) values: they agree with the task's double
// arithmetic to ~1e-15; 1e-12 leaves room for summation order and still catches any formula error.
constexpr double kDoubleTol = 1e-12;

std::unique_ptr<FidelityTask> MakeTask(int ctx, const std::string& path) {
  auto task = FidelityTask::Create({.ctx = ctx, .data_path = path});
  EXPECT_TRUE(task.ok()) << task.status().ToString();
  return task.ok() ? std::move(task).value() : nullptr;
}

// Runs one precision of fidelity for the items `accept` lets through (all when null); a candidate reads the
// reference's stored rows from `attachments` (sample id -> parts), which the reference run fills.
std::vector<SampleRecord> RunPrecision(Task& task, LanguageModel& model, bool is_reference,
                                       std::map<std::string, std::vector<std::string>>& attachments,
                                       const std::function<bool(const std::string&)>& accept) {
  const std::string precision = is_reference ? "bf16" : "nvfp4";
  std::vector<SampleRecord> samples;
  TaskRun run{.model = model,
              .precision = precision,
              .is_reference = is_reference,
              .should_run = [&](const std::string& id) { return accept ? accept(id) : true; },
              .emit =
                  [&](std::vector<SampleRecord>&& batch) {
                    for (SampleRecord& s : batch) {
                      s.precision = precision;
                      if (is_reference) attachments[s.sample_id] = std::move(s.attachment);
                      samples.push_back(std::move(s));
                    }
                    return Status::Ok();
                  },
              .progress = nullptr,
              .reference_attachment = [&](const std::string& id) -> Result<std::vector<std::string>> {
                return attachments.count(id) ? attachments[id] : std::vector<std::string>();
              }};
  const Status status = task.Run(run);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return samples;
}

// Runs fidelity as the runner does, one model at a time: the reference first (storing its rows), then the
// candidate against the stored rows. Returns the candidate's samples.
std::vector<SampleRecord> RunTask(Task& task, LanguageModel& candidate, LanguageModel& reference,
                                  std::function<bool(const std::string&)> accept = nullptr) {
  std::map<std::string, std::vector<std::string>> attachments;
  RunPrecision(task, reference, /*is_reference=*/true, attachments, accept);
  return RunPrecision(task, candidate, /*is_reference=*/false, attachments, accept);
}

std::map<std::string, MetricRecord> ByName(const std::vector<MetricRecord>& metrics) {
  std::map<std::string, MetricRecord> out;
  for (const MetricRecord& m : metrics) out[m.metric] = m;
  return out;
}

std::vector<double> Doubles(const SampleRecord& s, const char* field) {
  return s.data[field].get<std::vector<double>>();
}

const std::string kText = "It was a sunny day. Tom went to the park with his dog and a red ball.";

TEST(KldHistogramTest, FixedLogSpacedBins) {
  const std::vector<double>& edges = KldBinEdges();
  ASSERT_EQ(edges.size(), 15u);
  EXPECT_NEAR(edges.front(), 1e-6, 1e-21);
  EXPECT_NEAR(edges[1], std::sqrt(10.0) * 1e-6, 1e-20);
  EXPECT_NEAR(edges.back(), 10.0, 1e-14);
  const std::vector<double> kld = {0.0, -1e-18, 1e-7, edges[0], 5e-6, 0.5, 20.0};
  const std::vector<int64_t> counts = KldHistogram(kld);
  ASSERT_EQ(counts.size(), 16u);
  EXPECT_EQ(counts[0], 3);   // 0, the rounding negative, 1e-7
  EXPECT_EQ(counts[1], 1);   // exactly the first edge: [1e-6, 10^-5.5)
  EXPECT_EQ(counts[2], 1);   // 5e-6 in [10^-5.5, 1e-5)
  EXPECT_EQ(counts[12], 1);  // 0.5 in [10^-0.5, 1)
  EXPECT_EQ(counts[15], 1);  // >= 10
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  EXPECT_EQ(total, 7);
}

TEST(ComparePositionTest, KnownPairOfDistributionsMatchesClosedForm) {
  // P = softmax(2, 1, 0 x 6), Q = softmax(0, 0, 0.5, 0 x 5), vocab 8 (all logits exact in float).
  std::vector<float> x(8, 0.0f), y(8, 0.0f);
  x[0] = 2.0f;
  x[1] = 1.0f;
  y[2] = 0.5f;
  const double e = std::exp(1.0);
  const double zp = e * e + e + 6.0;
  const double zq = 7.0 + std::exp(0.5);
  // KL = sum p_i (x_i - y_i) - ln Zp + ln Zq, with sum p_i x_i = (2 e^2 + e) / Zp and sum p_i y_i = 0.5 / Zp.
  const double kl = (2.0 * e * e + e) / zp - 0.5 / zp - std::log(zp) + std::log(zq);
  for (TokenId correct : {0, 2, 5}) {
    const PositionFidelity pos = ComparePosition(x, y, correct);
    EXPECT_NEAR(pos.kld, kl, kDoubleTol);
    const double xc = x[correct], yc = y[correct];
    EXPECT_NEAR(pos.delta_p, std::exp(yc) / zq - std::exp(xc) / zp, kDoubleTol);
    EXPECT_NEAR(pos.nll_ref, std::log(zp) - xc, kDoubleTol);
    EXPECT_NEAR(pos.nll_q, std::log(zq) - yc, kDoubleTol);
    EXPECT_FALSE(pos.same_top);  // argmax 0 vs 2
  }
  EXPECT_TRUE(ComparePosition(x, x, 1).same_top);
}

TEST(FidelityTaskTest, RunScoresSecondHalfOfEachChunkAgainstClosedForm) {
  // Reference rows are always (2, 1, 0...), candidate rows (0, 0, 0.5, 0...): every position has the same KL.
  FakeLanguageModel reference(FakeModelOptions{.vocab_size = 8, .max_context = 8, .row_function = [](auto, auto row) {
    std::fill(row.begin(), row.end(), 0.0f);
    row[0] = 2.0f;
    row[1] = 1.0f;
  }});
  FakeLanguageModel candidate(FakeModelOptions{.vocab_size = 8, .max_context = 8, .row_function = [](auto, auto row) {
    std::fill(row.begin(), row.end(), 0.0f);
    row[2] = 0.5f;
  }});
  const std::string text = "abcdefghijklmnopqrstu";  // 21 bytes + BOS = 22 tokens -> 2 chunks of 8 (tail 6)
  auto task = MakeTask(8, testing::WriteTempText("fid_closed", text));
  ASSERT_NE(task, nullptr);
  const std::vector<SampleRecord> samples = RunTask(*task, candidate, reference);
  ASSERT_EQ(samples.size(), 2u);
  const double e = std::exp(1.0);
  const double zp = e * e + e + 6.0;
  const double zq = 7.0 + std::exp(0.5);
  const double kl = (2.0 * e * e + e) / zp - 0.5 / zp - std::log(zp) + std::log(zq);
  std::vector<TokenId> stream = reference.Encode(text).value();
  stream.insert(stream.begin(), 1);
  for (int i = 0; i < 2; ++i) {
    const SampleRecord& s = samples[i];
    EXPECT_EQ(s.sample_id, "chunk" + std::to_string(i));
    const auto kld = Doubles(s, "kld");
    ASSERT_EQ(kld.size(), 3u);  // rows 4, 5, 6 of ctx 8
    const auto nll_ref = Doubles(s, "nll_ref");
    const auto kld_bound = Doubles(s, "kld_bound");
    for (int k = 0; k < 3; ++k) {
      // The reference's distribution comes from its stored 16-bit row: within the row's stated bound.
      EXPECT_NEAR(kld[k], kl, kld_bound[k]);
      EXPECT_LT(kld_bound[k], 1e-4 * kl);
      const TokenId correct = stream[8 * i + 5 + k];
      EXPECT_NEAR(nll_ref[k], std::log(zp) - (correct == 0 ? 2.0 : correct == 1 ? 1.0 : 0.0), kDoubleTol);
    }
    EXPECT_NEAR(s.score, kl, *std::max_element(kld_bound.begin(), kld_bound.end()));
    EXPECT_EQ(s.data["same_top"], nlohmann::json({false, false, false}));
    EXPECT_EQ(s.data["kld_bin_edges"].size(), 15u);
    EXPECT_EQ(s.data["kld_hist"].size(), 16u);
    // All three positions share one KL value (0.59, far from a bin edge), so one bin holds all three.
    const auto& edges = KldBinEdges();
    const size_t bin = static_cast<size_t>(std::count_if(edges.begin(), edges.end(), [&](double x) { return x <= kl; }));
    EXPECT_EQ(s.data["kld_hist"][bin], 3);
    int64_t hist_total = 0;
    for (const auto& c : s.data["kld_hist"]) hist_total += c.get<int64_t>();
    EXPECT_EQ(hist_total, 3);
  }
  // Both models read the same chunks: BOS then stream tokens.
  std::vector<TokenId> chunk1(stream.begin() + 8, stream.begin() + 16);
  chunk1[0] = 1;
  EXPECT_EQ(reference.forwards()[1], chunk1);
  EXPECT_EQ(candidate.forwards()[1], chunk1);
}

TEST(FidelityTaskTest, IdenticalModelsGiveZeroWithinTheStorageBound) {
  const FakeModelOptions options{.max_context = 32, .seed = 9};
  FakeLanguageModel reference(options);
  FakeLanguageModel twin(options);
  auto task = MakeTask(16, testing::WriteTempText("fid_identical", kText));
  ASSERT_NE(task, nullptr);
  for (bool same_object : {false, true}) {
    LanguageModel& candidate = same_object ? static_cast<LanguageModel&>(reference) : twin;
    const std::vector<SampleRecord> samples = RunTask(*task, candidate, reference);
    ASSERT_EQ(samples.size(), (kText.size() + 1) / 16);
    for (const SampleRecord& s : samples) {
      // KL(p'' || p) of the stored row against the exact one: at most (e^{2d} - 1)^2, d <= 40 / 65535 / 2.
      const auto kld = Doubles(s, "kld");
      const auto bound = Doubles(s, "kld_bound");
      for (size_t i = 0; i < kld.size(); ++i) {
        EXPECT_GE(kld[i], -1e-15);
        EXPECT_LE(kld[i], bound[i]);
        EXPECT_LT(bound[i], 1e-6);
      }
      // The exact parts of the stored row: identical numbers.
      for (double d : Doubles(s, "delta_p")) EXPECT_EQ(d, 0.0);
      EXPECT_EQ(Doubles(s, "nll_ref"), Doubles(s, "nll_q"));
      for (const auto& flag : s.data["same_top"]) EXPECT_TRUE(flag.get<bool>());
    }
    const auto metrics = task->Aggregate(samples);
    ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
    auto m = ByName(*metrics);
    EXPECT_LE(m["kld_mean"].value, m["kld_bound_mean"].value);
    EXPECT_EQ(m["same_top_p"].value, 100.0);
    EXPECT_EQ(m["delta_p_rms"].value, 0.0);
    EXPECT_EQ(m["ln_ppl_ratio"].value, 0.0);
    EXPECT_EQ(m["ppl_q"].value, m["ppl_ref"].value);
  }
}

TEST(FidelityTaskTest, TheReferenceComparedWithItselfIsExactlyZero) {
  FakeLanguageModel reference(FakeModelOptions{.max_context = 32, .seed = 9});
  auto task = MakeTask(16, testing::WriteTempText("fid_self", kText));
  ASSERT_NE(task, nullptr);
  std::map<std::string, std::vector<std::string>> attachments;
  const auto samples = RunPrecision(*task, reference, /*is_reference=*/true, attachments, nullptr);
  ASSERT_EQ(samples.size(), 4u);
  for (const SampleRecord& s : samples) {
    for (double k : Doubles(s, "kld")) EXPECT_EQ(k, 0.0);
    for (double b : Doubles(s, "kld_bound")) EXPECT_EQ(b, 0.0);
    EXPECT_EQ(attachments[s.sample_id].size(), 7u);  // one stored row per scored position (rows 8 .. 14)
  }
}

// The storage bound holds against the exact computation from both models' logits, position by position.
TEST(FidelityTaskTest, StoredReferenceKldIsWithinItsBoundOfTheExactKld) {
  for (const float noise : {0.01f, 0.3f, 3.0f}) {
    FakeLanguageModel reference(FakeModelOptions{.max_context = 32, .seed = 9});
    FakeLanguageModel candidate(FakeModelOptions{.max_context = 32, .seed = 9, .noise = noise});
    auto task = MakeTask(16, testing::WriteTempText("fid_bound", kText));
    ASSERT_NE(task, nullptr);
    const std::vector<SampleRecord> samples = RunTask(*task, candidate, reference);
    ASSERT_EQ(samples.size(), 4u);
    std::vector<TokenId> stream = reference.Encode(kText).value();
    stream.insert(stream.begin(), reference.BosId());
    for (size_t c = 0; c < samples.size(); ++c) {
      std::vector<TokenId> chunk(stream.begin() + 16 * c, stream.begin() + 16 * (c + 1));
      chunk[0] = reference.BosId();  // every llama.cpp chunk starts with BOS
      const std::vector<float> ref_logits = reference.Logits(chunk).value();
      const std::vector<float> cand_logits = candidate.Logits(chunk).value();
      const auto kld = Doubles(samples[c], "kld");
      const auto bound = Doubles(samples[c], "kld_bound");
      const size_t vocab = static_cast<size_t>(reference.VocabSize());
      for (int r = 8; r < 15; ++r) {
        const PositionFidelity exact =
            ComparePosition(std::span<const float>(ref_logits).subspan(r * vocab, vocab),
                            std::span<const float>(cand_logits).subspan(r * vocab, vocab), chunk[r + 1]);
        EXPECT_LE(std::abs(kld[r - 8] - exact.kld), bound[r - 8]) << "noise " << noise << " row " << r;
        EXPECT_LT(bound[r - 8], 1e-3 * exact.kld + 1e-6) << "noise " << noise << " row " << r;
      }
    }
  }
}

TEST(FidelityTaskTest, PerturbedModelHasPositiveKldAndConsistentAggregate) {
  FakeLanguageModel reference(FakeModelOptions{.max_context = 32, .seed = 9});
  FakeLanguageModel candidate(FakeModelOptions{.max_context = 32, .seed = 9, .noise = 0.5f});
  auto task = MakeTask(16, testing::WriteTempText("fid_noise", kText));
  ASSERT_NE(task, nullptr);
  const std::vector<SampleRecord> samples = RunTask(*task, candidate, reference);
  ASSERT_EQ(samples.size(), 4u);
  std::vector<double> all_kld;
  for (const SampleRecord& s : samples) {
    for (double k : Doubles(s, "kld")) {
      EXPECT_GT(k, 0.0);
      all_kld.push_back(k);
    }
  }
  const auto metrics = task->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  auto m = ByName(*metrics);
  EXPECT_EQ(m["positions"].value, 4.0 * 7.0);  // 4 chunks x (16 - 1 - 8) positions
  EXPECT_EQ(m["kld_max"].value, *std::max_element(all_kld.begin(), all_kld.end()));
  EXPECT_LE(m["kld_median"].value, m["kld_p90"].value);
  EXPECT_LE(m["kld_p90"].value, m["kld_p99"].value);
  EXPECT_LE(m["kld_p99"].value, m["kld_p999"].value);
  EXPECT_LE(m["kld_p999"].value, m["kld_max"].value);
  EXPECT_GT(m["kld_mean"].value, 0.0);
  ASSERT_TRUE(m["kld_mean"].stderr_value.has_value());
  EXPECT_EQ(m["kld_mean"].unit, "nats");
  EXPECT_EQ(m["kld_mean"].higher_is, "worse");
  EXPECT_EQ(m["same_top_p"].higher_is, "better");
  EXPECT_EQ(m["same_top_p"].unit, "%");
}

SampleRecord FidelitySample(int index, std::vector<double> kld, std::vector<double> delta_p,
                            std::vector<bool> same_top, std::vector<double> nll_ref, std::vector<double> nll_q) {
  SampleRecord s;
  s.sample_id = "chunk" + std::to_string(index);
  s.precision = "nvfp4";
  s.data = {{"kld", kld}, {"delta_p", delta_p}, {"same_top", same_top}, {"nll_ref", nll_ref}, {"nll_q", nll_q}};
  return s;
}

TEST(FidelityAggregateTest, HandCase) {
  auto task = MakeTask(8, testing::WriteTempText("fid_agg", "x"));
  ASSERT_NE(task, nullptr);
  const auto metrics = task->Aggregate({
      FidelitySample(1, {0.2, 0.0}, {0.2, 0.0}, {true, false}, {1, 1}, {1, 2.5}),
      FidelitySample(0, {0.1, 0.3}, {0.1, -0.1}, {true, true}, {1, 2}, {1.5, 2}),
  });
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  auto m = ByName(*metrics);
  // kld {0.1, 0.3, 0.2, 0}: mean 0.15; sorted 0, .1, .2, .3: median h = 1.5 -> 0.15, p90 h = 2.7 -> 0.27.
  EXPECT_NEAR(m["kld_mean"].value, 0.15, kDoubleTol);
  EXPECT_NEAR(m["kld_median"].value, 0.15, kDoubleTol);
  EXPECT_NEAR(m["kld_p90"].value, 0.27, kDoubleTol);
  EXPECT_EQ(m["kld_max"].value, 0.3);
  // same top 3 of 4: 75 % +- 100 sqrt(0.75 * 0.25 / 3) = 25 %.
  EXPECT_NEAR(m["same_top_p"].value, 75.0, kDoubleTol);
  EXPECT_NEAR(*m["same_top_p"].stderr_value, 25.0, kDoubleTol);
  // delta_p {0.1, -0.1, 0.2, 0}: mean 5 %, rms 100 sqrt(0.06 / 4).
  EXPECT_NEAR(m["delta_p_mean"].value, 5.0, kDoubleTol);
  EXPECT_NEAR(m["delta_p_rms"].value, 100.0 * std::sqrt(0.015), kDoubleTol);
  // nll_q - nll_ref = {0.5, 0, 0, 1.5}: mean 0.5, sample variance 1.5 / 3, SE sqrt(0.5 / 4).
  EXPECT_NEAR(m["ln_ppl_ratio"].value, 0.5, kDoubleTol);
  EXPECT_NEAR(*m["ln_ppl_ratio"].stderr_value, std::sqrt(0.125), kDoubleTol);
  EXPECT_NEAR(m["ppl_ref"].value, std::exp(1.25), kDoubleTol);
  EXPECT_NEAR(m["ppl_q"].value, std::exp(1.75), kDoubleTol);
  EXPECT_EQ(m["positions"].value, 4.0);
  EXPECT_EQ(m["positions"].n, 2);
}

TEST(FidelityAggregateTest, RejectsRaggedAndForeignSamples) {
  auto task = MakeTask(8, testing::WriteTempText("fid_agg_bad", "x"));
  ASSERT_NE(task, nullptr);
  EXPECT_FALSE(task->Aggregate({}).ok());
  EXPECT_FALSE(task->Aggregate({FidelitySample(0, {0.1, 0.2}, {0.0}, {true, true}, {1, 1}, {1, 1})}).ok());
  SampleRecord foreign = FidelitySample(0, {0.1}, {0.0}, {true}, {1}, {1});
  foreign.sample_id = "doc0";
  EXPECT_FALSE(task->Aggregate({foreign}).ok());
  SampleRecord mistyped = FidelitySample(0, {0.1}, {0.0}, {true}, {1}, {1});
  mistyped.data["same_top"] = {1};
  const auto result = task->Aggregate({mistyped});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("same_top"), std::string::npos);
}

TEST(FidelityTaskTest, SplitRunsAggregateLikeOneRun) {
  const FakeModelOptions ref_options{.max_context = 32, .seed = 9};
  const FakeModelOptions cand_options{.max_context = 32, .seed = 9, .noise = 0.3f};
  auto task = MakeTask(8, testing::WriteTempText("fid_resume", kText));
  ASSERT_NE(task, nullptr);
  FakeLanguageModel ref_a(ref_options), cand_a(cand_options);
  const std::vector<SampleRecord> full = RunTask(*task, cand_a, ref_a);
  const auto full_metrics = task->Aggregate(full);
  ASSERT_TRUE(full_metrics.ok());
  const auto odd = [](const std::string& id) { return (id.back() - '0') % 2 == 1; };
  FakeLanguageModel ref_b(ref_options), cand_b(cand_options);
  std::vector<SampleRecord> merged = RunTask(*task, cand_b, ref_b, odd);
  EXPECT_LT(merged.size(), full.size());
  const auto rest = RunTask(*task, cand_b, ref_b, [&](const std::string& id) { return !odd(id); });
  merged.insert(merged.end(), rest.begin(), rest.end());
  std::shuffle(merged.begin(), merged.end(), std::mt19937(3));
  const auto metrics = task->Aggregate(merged);
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->size(), full_metrics->size());
  for (size_t i = 0; i < metrics->size(); ++i) {
    EXPECT_EQ((*metrics)[i].value, (*full_metrics)[i].value) << (*metrics)[i].metric;  // bit-exact
    EXPECT_EQ((*metrics)[i].stderr_value, (*full_metrics)[i].stderr_value) << (*metrics)[i].metric;
  }
}

TEST(FidelityTaskTest, NeedsAReferenceOfTheSameVocabularyAndItsStoredRows) {
  auto task = MakeTask(8, testing::WriteTempText("fid_errors", kText));
  ASSERT_NE(task, nullptr);
  EXPECT_TRUE(task->NeedsReference());
  FakeLanguageModel model(FakeModelOptions{.max_context = 32});
  EXPECT_EQ(task->Preflight(model, nullptr).code(), StatusCode::kFailedPrecondition);
  FakeLanguageModel other_vocab(FakeModelOptions{.vocab_size = 300, .max_context = 32});
  EXPECT_EQ(task->Preflight(model, &other_vocab).code(), StatusCode::kInvalidArgument);
  FakeLanguageModel short_context(FakeModelOptions{.max_context = 4});
  EXPECT_EQ(task->Preflight(model, &short_context).code(), StatusCode::kInvalidArgument);
  FakeLanguageModel same(FakeModelOptions{.max_context = 32});
  EXPECT_TRUE(task->Preflight(model, &same).ok());

  TaskRun run{.model = model,
              .precision = "nvfp4",
              .should_run = [](const std::string&) { return true; },
              .emit = [](std::vector<SampleRecord>&&) { return Status::Ok(); }};
  EXPECT_EQ(task->Run(run).code(), StatusCode::kFailedPrecondition);  // no way to read the reference's rows
  run.reference_attachment = [](const std::string&) -> Result<std::vector<std::string>> {
    return std::vector<std::string>();
  };
  EXPECT_EQ(task->Run(run).code(), StatusCode::kFailedPrecondition);  // the reference stored nothing
  run.reference_attachment = [](const std::string&) -> Result<std::vector<std::string>> {
    return std::vector<std::string>(3, std::string(10, 'x'));
  };
  EXPECT_EQ(task->Run(run).code(), StatusCode::kInvalidArgument);  // rows that are not rows of this vocabulary
  EXPECT_FALSE(FidelityTask::Create({.ctx = 2, .data_path = testing::WriteTempText("fid_ctx", kText)}).ok());
}

}  // namespace
}  // namespace fp4lab
