#include "tasks/perplexity.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numbers>
#include <random>

#include <gtest/gtest.h>

#include "tasks/fake_language_model.h"
#include "tasks/lm_requests.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FakeLanguageModel;
using testing::FakeModelOptions;

// Double rounding over at most a few hundred O(10) terms stays below 1e-12 absolute / relative.
constexpr double kDoubleTol = 1e-12;

std::unique_ptr<PerplexityTask> MakeTask(PerplexityConvention convention, int ctx, const std::string& path) {
  auto task = PerplexityTask::Create({.convention = convention, .ctx = ctx, .data_path = path});
  EXPECT_TRUE(task.ok()) << task.status().ToString();
  return task.ok() ? std::move(task).value() : nullptr;
}

// Runs `task` on `model` for the items `accept` lets through (all when null); returns the emitted samples.
std::vector<SampleRecord> RunTask(Task& task, LanguageModel& model,
                                  std::function<bool(const std::string&)> accept = nullptr) {
  std::vector<SampleRecord> samples;
  TaskRun run{.model = model,
              .precision = "bf16",
              .should_run = [&](const std::string& id) { return accept ? accept(id) : true; },
              .emit =
                  [&](std::vector<SampleRecord>&& batch) {
                    for (SampleRecord& s : batch) {
                      s.precision = "bf16";
                      samples.push_back(std::move(s));
                    }
                    return Status::Ok();
                  },
              .progress = nullptr};
  const Status status = task.Run(run);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return samples;
}

// A run over every item that discards the samples (for the error paths).
TaskRun DiscardingRun(LanguageModel& model) {
  return TaskRun{.model = model,
                 .precision = "bf16",
                 .should_run = [](const std::string&) { return true; },
                 .emit = [](std::vector<SampleRecord>&&) { return Status::Ok(); },
                 .progress = nullptr};
}

std::map<std::string, MetricRecord> ByName(const std::vector<MetricRecord>& metrics) {
  std::map<std::string, MetricRecord> out;
  for (const MetricRecord& m : metrics) out[m.metric] = m;
  return out;
}

// -ln softmax(row)[t], textbook formula in long double.
double ReferenceNll(std::span<const float> row, TokenId t) {
  long double z = 0;
  for (float x : row) z += std::exp(static_cast<long double>(x));
  return static_cast<double>(std::log(z) - static_cast<long double>(row[t]));
}

// Sum of NLLs of `targets` scored by the last targets.size() rows of `input`, under a fresh model.
double NllOfWindow(const FakeModelOptions& options, const std::vector<TokenId>& input,
                   const std::vector<TokenId>& targets) {
  FakeLanguageModel model(options);
  const std::vector<float> logits = model.Logits(input).value();
  const size_t first_row = input.size() - targets.size();
  double sum = 0;
  for (size_t k = 0; k < targets.size(); ++k) {
    sum += ReferenceNll(std::span<const float>(logits).subspan((first_row + k) * 259, 259), targets[k]);
  }
  return sum;
}

TokenId Tok(char c) { return 3 + static_cast<TokenId>(static_cast<unsigned char>(c)); }

std::vector<TokenId> Toks(const std::string& s) {
  std::vector<TokenId> out;
  for (char c : s) out.push_back(Tok(c));
  return out;
}

TEST(CountPythonWordsTest, MatchesReSplitOnWhitespace) {
  // Expected values are len(re.split(r"\s+", s)) in Python 3.
  EXPECT_EQ(CountPythonWords("one"), 1);
  EXPECT_EQ(CountPythonWords(""), 1);
  EXPECT_EQ(CountPythonWords("a b"), 2);
  EXPECT_EQ(CountPythonWords("a  \t\n b\nc"), 3);
  EXPECT_EQ(CountPythonWords(" a"), 2);                  // ['', 'a']
  EXPECT_EQ(CountPythonWords("a\xC2\xA0" "b"), 2);        // U+00A0 is \s
  EXPECT_EQ(CountPythonWords("a\xE2\x80\x83" "b"), 2);    // U+2003 EM SPACE is \s
  EXPECT_EQ(CountPythonWords("a\xE2\x80\x8B" "b"), 1);    // U+200B ZERO WIDTH SPACE is not
  EXPECT_EQ(CountPythonWords("a\x1F" "b"), 2);            // U+001F unit separator is \s in Python
}

TEST(PerplexityConventionTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(ParsePerplexityConvention("lmeval").value(), PerplexityConvention::kLmEval);
  EXPECT_EQ(ParsePerplexityConvention("llamacpp").value(), PerplexityConvention::kLlamaCpp);
  const auto bad = ParsePerplexityConvention("wikitext");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("lmeval"), std::string::npos);
}

TEST(PerplexityTaskTest, CreateRejectsBadOptionsAndMissingFiles) {
  const std::string path = testing::WriteTempText("ppl_create", "hello");
  EXPECT_FALSE(PerplexityTask::Create({.convention = PerplexityConvention::kLmEval, .ctx = -1, .data_path = path})
                   .ok());
  EXPECT_FALSE(PerplexityTask::Create({.convention = PerplexityConvention::kLlamaCpp, .ctx = 2, .data_path = path})
                   .ok());
  const auto missing = PerplexityTask::Create({.data_path = path + ".missing"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto task = MakeTask(PerplexityConvention::kLlamaCpp, 8, path);
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(task->Name(), "perplexity");
  EXPECT_EQ(task->Config()["convention"], "llamacpp");
  EXPECT_EQ(task->Config()["ctx"], 8);
  EXPECT_EQ(task->DatasetSha256().size(), 64u);
}

TEST(PerplexityLmEvalTest, WindowsPerDocumentAndDataFields) {
  // Two documents; the first has 10 byte tokens, so ctx 4 gives the windows of the hand case in
  // lm_requests_test: inputs [BOS,a,b,c], [d,e,f,g], [f,g,h,i].
  const std::string path = testing::WriteTempText("ppl_lmeval", "abcdefghij\n<|endoftext|>\n  x y\xC2\xA0z \n<|endoftext|>\n");
  auto task = MakeTask(PerplexityConvention::kLmEval, 4, path);
  ASSERT_NE(task, nullptr);
  const FakeModelOptions options{.max_context = 8, .seed = 11};
  FakeLanguageModel model(options);
  const std::vector<SampleRecord> samples = RunTask(*task, model);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].sample_id, "doc0");
  EXPECT_EQ(samples[1].sample_id, "doc1");
  std::vector<TokenId> w0 = Toks("abc");
  w0.insert(w0.begin(), 1);
  const std::vector<TokenId> w1 = Toks("defg");
  const std::vector<TokenId> w2 = Toks("fghi");
  ASSERT_GE(model.forwards().size(), 3u);
  EXPECT_EQ(model.forwards()[0], w0);
  EXPECT_EQ(model.forwards()[1], w1);
  EXPECT_EQ(model.forwards()[2], w2);
  // Window 0 scores a..d on all 4 rows, window 1 e..h on all 4 rows, window 2 i, j on its last 2 rows.
  const double expected = NllOfWindow(options, w0, Toks("abcd")) + NllOfWindow(options, w1, Toks("efgh")) +
                          NllOfWindow(options, w2, Toks("ij"));
  EXPECT_NEAR(samples[0].data["nll_sum"].get<double>(), expected, kDoubleTol);
  EXPECT_EQ(samples[0].score, samples[0].data["nll_sum"].get<double>());
  EXPECT_EQ(samples[0].data["tokens"], 10);
  EXPECT_EQ(samples[0].data["bytes"], 10);
  EXPECT_EQ(samples[0].data["words"], 1);
  EXPECT_EQ(samples[0].data["windows"], 3);
  // Document 1 is "x y\u00a0z" after stripping: 6 bytes, 3 words (U+00A0 splits); its 6 tokens with ctx 4
  // give the windows ([BOS], t[:4]) and (t[1:4], t[4:6]).
  EXPECT_EQ(samples[1].data["tokens"], 6);
  EXPECT_EQ(samples[1].data["bytes"], 6);
  EXPECT_EQ(samples[1].data["words"], 3);
  EXPECT_EQ(samples[1].data["windows"], 2);
  std::vector<TokenId> bos_doc0 = Toks("abcdefghij");
  bos_doc0.insert(bos_doc0.begin(), 1);
  EXPECT_EQ(samples[0].prompt_sha256, TokensSha256(bos_doc0));
  EXPECT_TRUE(samples[0].prompt_text.empty());  // only with log_samples
}

TEST(PerplexityLmEvalTest, DefaultCtxIsTheModelMaxContextAndTooLargeCtxFails) {
  const std::string path = testing::WriteTempText("ppl_lmeval_ctx", std::string(20, 'a'));
  auto task = MakeTask(PerplexityConvention::kLmEval, 0, path);
  ASSERT_NE(task, nullptr);
  FakeLanguageModel model(FakeModelOptions{.max_context = 8});
  RunTask(*task, model);
  // 20 tokens, max_seq_len 8: windows predict 8, 8, 4 tokens. The last two read the same 8 tokens ("a" x 8), so
  // they share one forward, as lm-eval's grouping by context + continuation[:-1] does.
  ASSERT_EQ(model.forwards().size(), 2u);
  for (const auto& input : model.forwards()) EXPECT_EQ(input.size(), 8u);

  auto wide = MakeTask(PerplexityConvention::kLmEval, 9, path);
  ASSERT_NE(wide, nullptr);
  TaskRun run = DiscardingRun(model);
  EXPECT_EQ(wide->Run(run).code(), StatusCode::kInvalidArgument);
}

SampleRecord DocSample(int index, double nll, int tokens, int bytes, int words) {
  SampleRecord s;
  s.sample_id = "doc" + std::to_string(index);
  s.precision = "bf16";
  s.data = {{"nll_sum", nll}, {"tokens", tokens}, {"bytes", bytes}, {"words", words}};
  return s;
}

TEST(PerplexityLmEvalTest, AggregateSumsThenDivides) {
  auto task = MakeTask(PerplexityConvention::kLmEval, 4, testing::WriteTempText("ppl_agg", "x"));
  ASSERT_NE(task, nullptr);
  // nll 10 + 6 = 16 over 8 tokens, 12 bytes, 3 words.
  const auto metrics = task->Aggregate({DocSample(1, 6, 3, 4, 1), DocSample(0, 10, 5, 8, 2)});
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  auto m = ByName(*metrics);
  EXPECT_NEAR(m["token_ppl"].value, std::exp(2.0), kDoubleTol * std::exp(2.0));
  EXPECT_NEAR(m["byte_ppl"].value, std::exp(16.0 / 12.0), kDoubleTol * 4);
  EXPECT_NEAR(m["word_ppl"].value, std::exp(16.0 / 3.0), kDoubleTol * 300);
  EXPECT_NEAR(m["bits_per_byte"].value, 16.0 / (12.0 * std::numbers::ln2), kDoubleTol);
  EXPECT_EQ(m["nll_sum"].value, 16.0);
  EXPECT_EQ(m["docs"].value, 2.0);
  EXPECT_EQ(m["tokens"].value, 8.0);
  EXPECT_EQ(m["bytes"].value, 12.0);
  EXPECT_EQ(m["words"].value, 3.0);
  EXPECT_EQ(m["token_ppl"].higher_is, "worse");
  EXPECT_EQ(m["token_ppl"].n, 8);
}

TEST(PerplexityLmEvalTest, AggregateRejectsForeignDuplicateAndBrokenSamples) {
  auto task = MakeTask(PerplexityConvention::kLmEval, 4, testing::WriteTempText("ppl_agg_bad", "x"));
  ASSERT_NE(task, nullptr);
  EXPECT_FALSE(task->Aggregate({}).ok());
  EXPECT_FALSE(task->Aggregate({DocSample(0, 1, 1, 1, 1), DocSample(0, 1, 1, 1, 1)}).ok());
  SampleRecord foreign = DocSample(0, 1, 1, 1, 1);
  foreign.sample_id = "chunk0";
  EXPECT_FALSE(task->Aggregate({foreign}).ok());
  foreign.sample_id = "doc01";
  EXPECT_FALSE(task->Aggregate({foreign}).ok());
  SampleRecord broken = DocSample(0, 1, 1, 1, 1);
  broken.data.erase("bytes");
  const auto result = task->Aggregate({broken});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("bytes"), std::string::npos);
  EXPECT_NE(result.status().message().find("doc0"), std::string::npos);
}

TEST(PerplexityLlamaCppTest, ChunksCountsAndScoredPositions) {
  // 30 bytes -> stream of 31 tokens with BOS -> 3 chunks of 8, tail of 7 dropped; 3 scored tokens each.
  const std::string text = "The quick brown fox jumps over";
  ASSERT_EQ(text.size(), 30u);
  const std::string path = testing::WriteTempText("ppl_llamacpp", text);
  auto task = MakeTask(PerplexityConvention::kLlamaCpp, 8, path);
  ASSERT_NE(task, nullptr);
  const FakeModelOptions options{.max_context = 16, .seed = 2};
  FakeLanguageModel model(options);
  const std::vector<SampleRecord> samples = RunTask(*task, model);
  ASSERT_EQ(samples.size(), 3u);
  std::vector<TokenId> stream = Toks(text);
  stream.insert(stream.begin(), 1);
  for (int i = 0; i < 3; ++i) {
    std::vector<TokenId> chunk(stream.begin() + 8 * i, stream.begin() + 8 * (i + 1));
    chunk[0] = 1;
    EXPECT_EQ(samples[i].sample_id, "chunk" + std::to_string(i));
    EXPECT_EQ(model.forwards()[i], chunk);
    const auto nlls = samples[i].data["nlls"].get<std::vector<double>>();
    ASSERT_EQ(nlls.size(), 3u);
    // Rows 4, 5, 6 score chunk tokens 5, 6, 7.
    FakeLanguageModel fresh(options);
    const std::vector<float> logits = fresh.Logits(chunk).value();
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(nlls[k], ReferenceNll(std::span<const float>(logits).subspan((4 + k) * 259, 259), chunk[5 + k]),
                  kDoubleTol);
    }
  }
  const auto metrics = task->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  auto m = ByName(*metrics);
  EXPECT_EQ(m["chunks"].value, 3.0);
  EXPECT_EQ(m["scored_tokens"].value, 9.0);
}

TEST(PerplexityLlamaCppTest, TextShorterThanOneChunkIsInvalid) {
  const std::string path = testing::WriteTempText("ppl_llamacpp_short", "abcdef");  // 7 tokens with BOS
  auto task = MakeTask(PerplexityConvention::kLlamaCpp, 8, path);
  ASSERT_NE(task, nullptr);
  FakeLanguageModel model(FakeModelOptions{.max_context = 16});
  TaskRun run = DiscardingRun(model);
  const Status status = task->Run(run);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(path), std::string::npos);
  EXPECT_NE(status.message().find("text has 7 tokens"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("fewer than one chunk of 8"), std::string::npos) << status.message();
}

SampleRecord ChunkSample(int index, std::vector<double> nlls, const std::string& precision = "bf16") {
  SampleRecord s;
  s.sample_id = "chunk" + std::to_string(index);
  s.precision = precision;
  s.data = {{"nlls", nlls}};
  return s;
}

TEST(PerplexityLlamaCppTest, AggregateUsesLlamaCppStderr) {
  auto task = MakeTask(PerplexityConvention::kLlamaCpp, 8, testing::WriteTempText("ppl_llamacpp_agg", "x"));
  ASSERT_NE(task, nullptr);
  const auto metrics = task->Aggregate({ChunkSample(1, {3, 4}), ChunkSample(0, {1, 2})});
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  auto m = ByName(*metrics);
  // mean 2.5; llama.cpp: var = E[x^2] - E[x]^2 = 30/4 - 6.25 = 1.25; stderr = ppl * sqrt(1.25 / 3).
  const double ppl = std::exp(2.5);
  EXPECT_NEAR(m["ppl"].value, ppl, kDoubleTol * ppl);
  ASSERT_TRUE(m["ppl"].stderr_value.has_value());
  EXPECT_NEAR(*m["ppl"].stderr_value, ppl * std::sqrt(1.25 / 3.0), kDoubleTol * ppl);
  EXPECT_NEAR(m["nll_mean"].value, 2.5, kDoubleTol);
  EXPECT_EQ(m["ppl"].n, 4);
  EXPECT_EQ(m["chunks"].value, 2.0);
  EXPECT_EQ(m["scored_tokens"].value, 4.0);
}

// Splitting a run (resume after an interruption, or shards) and aggregating the union gives exactly the
// numbers of one full run, whatever order the store returns samples in.
void ExpectSplitRunsAggregateLikeOneRun(PerplexityConvention convention, int ctx, const std::string& name) {
  std::string text;
  for (int i = 0; i < 9; ++i) text += "story number " + std::to_string(i) + " is here\n<|endoftext|>\n";
  const std::string path = testing::WriteTempText(name, text);
  auto task = MakeTask(convention, ctx, path);
  ASSERT_NE(task, nullptr);
  const FakeModelOptions options{.max_context = 16, .seed = 4};
  FakeLanguageModel full_model(options);
  const std::vector<SampleRecord> full = RunTask(*task, full_model);
  ASSERT_GE(full.size(), 4u);
  const auto full_metrics = task->Aggregate(full);
  ASSERT_TRUE(full_metrics.ok()) << full_metrics.status().ToString();

  // Resume: a first run evaluates only ids with an even hash, the second the rest.
  const auto first_half = [](const std::string& id) { return std::hash<std::string>{}(id) % 2 == 0; };
  FakeLanguageModel part_model(options);
  std::vector<SampleRecord> parts = RunTask(*task, part_model, first_half);
  EXPECT_LT(parts.size(), full.size());
  std::vector<SampleRecord> rest =
      RunTask(*task, part_model, [&](const std::string& id) { return !first_half(id); });
  parts.insert(parts.end(), rest.begin(), rest.end());
  ASSERT_EQ(parts.size(), full.size());
  // Shards 0..2 by index modulo 3, merged in reverse.
  std::vector<SampleRecord> shards;
  for (int shard = 2; shard >= 0; --shard) {
    FakeLanguageModel shard_model(options);
    const auto in_shard = [&](const std::string& id) {
      const size_t digits = id.find_first_of("0123456789");
      return std::stoi(id.substr(digits)) % 3 == shard;
    };
    const auto part = RunTask(*task, shard_model, in_shard);
    shards.insert(shards.end(), part.begin(), part.end());
  }
  std::shuffle(shards.begin(), shards.end(), std::mt19937(7));
  for (const auto* merged : {&parts, &shards}) {
    const auto metrics = task->Aggregate(*merged);
    ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
    ASSERT_EQ(metrics->size(), full_metrics->size());
    for (size_t i = 0; i < metrics->size(); ++i) {
      EXPECT_EQ((*metrics)[i].metric, (*full_metrics)[i].metric);
      EXPECT_EQ((*metrics)[i].value, (*full_metrics)[i].value) << (*metrics)[i].metric;  // bit-exact
      EXPECT_EQ((*metrics)[i].stderr_value, (*full_metrics)[i].stderr_value) << (*metrics)[i].metric;
    }
  }
}

TEST(PerplexityResumeTest, LmEvalSplitRunsAggregateLikeOneRun) {
  ExpectSplitRunsAggregateLikeOneRun(PerplexityConvention::kLmEval, 8, "ppl_resume_lmeval");
}

TEST(PerplexityResumeTest, LlamaCppSplitRunsAggregateLikeOneRun) {
  ExpectSplitRunsAggregateLikeOneRun(PerplexityConvention::kLlamaCpp, 8, "ppl_resume_llamacpp");
}

std::map<std::string, ComparisonRecord> CompareByName(const std::vector<ComparisonRecord>& rows) {
  std::map<std::string, ComparisonRecord> out;
  for (const ComparisonRecord& r : rows) out[r.metric] = r;
  return out;
}

TEST(PerplexityCompareTest, LmEvalRatioEstimatorByHand) {
  auto task = MakeTask(PerplexityConvention::kLmEval, 4, testing::WriteTempText("ppl_cmp_lmeval", "x"));
  ASSERT_NE(task, nullptr);
  // Reference nll (2, 2) over tokens (1, 1); candidate (3, 5): d = (1, 3), T = 2, r = 2,
  // residuals d - r*tokens = (-1, 1), SE = sqrt(2/1 * 2) / 2 = 1.
  std::vector<SampleRecord> ref = {DocSample(0, 2, 1, 4, 1), DocSample(1, 2, 1, 4, 1)};
  std::vector<SampleRecord> cand = {DocSample(1, 5, 1, 4, 1), DocSample(0, 3, 1, 4, 1)};
  for (auto& s : cand) s.precision = "nvfp4";
  const auto rows = task->Compare(cand, ref);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  auto c = CompareByName(*rows);
  const double z = 1.959963984540054;
  EXPECT_NEAR(c["ln_ppl_ratio"].delta, 2.0, kDoubleTol);
  EXPECT_NEAR(c["ln_ppl_ratio"].ci_low, 2.0 - z, kDoubleTol);
  EXPECT_NEAR(c["ln_ppl_ratio"].ci_high, 2.0 + z, kDoubleTol);
  EXPECT_EQ(c["ln_ppl_ratio"].precision, "nvfp4");
  EXPECT_EQ(c["ln_ppl_ratio"].reference_precision, "bf16");
  EXPECT_EQ(c["ln_ppl_ratio"].method, "paired_normal");
  // token_ppl: reference exp(4/2) = e^2, candidate exp(8/2) = e^4.
  EXPECT_NEAR(c["token_ppl"].delta, std::exp(4.0) - std::exp(2.0), 1e-10);
  EXPECT_NEAR(c["token_ppl"].ci_low, std::exp(2.0) * std::expm1(2.0 - z), 1e-10);
  // bits_per_byte: (8 - 4) / (8 bytes * ln 2).
  EXPECT_NEAR(c["bits_per_byte"].delta, 4.0 / (8.0 * std::numbers::ln2), kDoubleTol);
}

TEST(PerplexityCompareTest, LlamaCppPairsPerTokenAndIdenticalRunsGiveZero) {
  auto task = MakeTask(PerplexityConvention::kLlamaCpp, 8, testing::WriteTempText("ppl_cmp_llamacpp", "x"));
  ASSERT_NE(task, nullptr);
  // d = (1, 2, 3): mean 2, sample sd 1, SE 1/sqrt(3).
  const auto rows = task->Compare({ChunkSample(0, {1, 2}, "nvfp4"), ChunkSample(1, {3}, "nvfp4")},
                                  {ChunkSample(0, {0, 0}), ChunkSample(1, {0})});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  auto c = CompareByName(*rows);
  const double half = 1.959963984540054 / std::sqrt(3.0);
  EXPECT_NEAR(c["ln_ppl_ratio"].delta, 2.0, kDoubleTol);
  EXPECT_NEAR(c["ln_ppl_ratio"].ci_low, 2.0 - half, kDoubleTol);
  EXPECT_NEAR(c["ln_ppl_ratio"].ci_high, 2.0 + half, kDoubleTol);
  EXPECT_NEAR(c["ppl"].delta, std::exp(2.0) - 1.0, kDoubleTol * 10);

  const std::vector<SampleRecord> same = {ChunkSample(0, {1.5, 2.5}), ChunkSample(1, {0.5})};
  const auto zero = task->Compare(same, same);
  ASSERT_TRUE(zero.ok());
  for (const ComparisonRecord& r : *zero) {
    EXPECT_EQ(r.delta, 0.0) << r.metric;
    EXPECT_EQ(r.ci_low, 0.0) << r.metric;
    EXPECT_EQ(r.ci_high, 0.0) << r.metric;
  }
  // Different token counts for one chunk: not the same items.
  EXPECT_FALSE(task->Compare({ChunkSample(0, {1, 2})}, {ChunkSample(0, {1})}).ok());
}

}  // namespace
}  // namespace fp4lab
