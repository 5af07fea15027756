#include "tasks/perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numbers>
#include <utility>

#include "engine/file_util.h"
#include "results/stats.h"
#include "tasks/causal_only.h"
#include "tasks/lm_requests.h"
#include "tasks/mmlu_prompt.h"
#include "tasks/sample_fields.h"

namespace fp4lab {
namespace {

constexpr int kLlamaCppDefaultCtx = 512;  // llama-perplexity's default -c
constexpr int kLlamaCppMinCtx = 3;        // ctx/2 .. ctx-2 must hold at least one row
constexpr std::string_view kTask = "perplexity";
constexpr std::string_view kDocPrefix = "doc";
constexpr std::string_view kChunkPrefix = "chunk";

// Python str.isspace() (which is what re's \s matches in a str pattern).
bool IsPythonSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Decodes the character at text[i] of valid UTF-8 into `cp`; returns its length in bytes.
size_t DecodeUtf8At(std::string_view text, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(text[i + k])); };
  if (b(0) < 0x80) {
    cp = b(0);
    return 1;
  }
  if (b(0) < 0xE0) {
    cp = ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    return 2;
  }
  if (b(0) < 0xF0) {
    cp = ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    return 3;
  }
  cp = ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  return 4;
}

Status CheckCtx(int ctx, const LanguageModel& model) {
  if (ctx >= 1 && ctx <= model.MaxContext()) return Status::Ok();
  return Status::InvalidArgument("perplexity: ctx " + std::to_string(ctx) + " must be in 1.." +
                                 std::to_string(model.MaxContext()) + " (the model's max context)");
}

// The item ids this call evaluates: those the runner's filter accepts.
std::vector<int64_t> PendingItems(const TaskRun& run, std::string_view prefix, int64_t count) {
  std::vector<int64_t> pending;
  for (int64_t i = 0; i < count; ++i) {
    if (run.should_run(IndexedSampleId(prefix, i))) pending.push_back(i);
  }
  return pending;
}

MetricRecord Metric(const std::string& precision, const char* name, double value, int64_t n, const char* unit,
                    const char* higher_is) {
  return MakeMetric(kTask, precision, name, value, n, unit, higher_is);
}

ComparisonRecord Comparison(const std::string& candidate, const std::string& reference, const char* metric,
                            double delta, double low, double high, nlohmann::json extra) {
  ComparisonRecord c;
  c.task = std::string(kTask);
  c.precision = candidate;
  c.reference_precision = reference;
  c.metric = metric;
  c.delta = delta;
  c.ci_low = low;
  c.ci_high = high;
  c.method = "paired_normal";
  c.extra = std::move(extra);
  return c;
}

// Per-document sums of the lmeval convention.
struct DocTotals {
  double nll = 0.0;
  int64_t tokens = 0;
  int64_t bytes = 0;
  int64_t words = 0;
};

Result<DocTotals> ReadDocTotals(const SampleRecord& sample) {
  DocTotals t;
  FP4LAB_ASSIGN_OR_RETURN(t.nll, SampleNumber(kTask, sample, "nll_sum"));
  FP4LAB_ASSIGN_OR_RETURN(const double tokens, SampleNumber(kTask, sample, "tokens"));
  FP4LAB_ASSIGN_OR_RETURN(const double bytes, SampleNumber(kTask, sample, "bytes"));
  FP4LAB_ASSIGN_OR_RETURN(const double words, SampleNumber(kTask, sample, "words"));
  t.tokens = static_cast<int64_t>(tokens);
  t.bytes = static_cast<int64_t>(bytes);
  t.words = static_cast<int64_t>(words);
  return t;
}

// Paired samples (same id in both lists), in index order of the candidate ids.
Result<std::vector<std::pair<const SampleRecord*, const SampleRecord*>>> PairById(
    const std::vector<SampleRecord>& candidate, const std::vector<SampleRecord>& reference, std::string_view prefix) {
  FP4LAB_ASSIGN_OR_RETURN(const auto ordered, SamplesInIndexOrder(kTask, candidate, prefix));
  FP4LAB_ASSIGN_OR_RETURN(const auto ordered_ref, SamplesInIndexOrder(kTask, reference, prefix));
  std::map<std::string, const SampleRecord*> by_id;
  for (const SampleRecord* r : ordered_ref) by_id[r->sample_id] = r;
  std::vector<std::pair<const SampleRecord*, const SampleRecord*>> pairs;
  for (const SampleRecord* c : ordered) {
    const auto it = by_id.find(c->sample_id);
    if (it != by_id.end()) pairs.emplace_back(c, it->second);
  }
  return pairs;
}

Result<std::vector<MetricRecord>> AggregateLmEval(const std::vector<SampleRecord>& samples) {
  FP4LAB_ASSIGN_OR_RETURN(const auto ordered, SamplesInIndexOrder(kTask, samples, kDocPrefix));
  DocTotals sum;
  for (const SampleRecord* sample : ordered) {
    FP4LAB_ASSIGN_OR_RETURN(const DocTotals t, ReadDocTotals(*sample));
    sum.nll += t.nll;
    sum.tokens += t.tokens;
    sum.bytes += t.bytes;
    sum.words += t.words;
  }
  if (sum.tokens == 0) return Status::InvalidArgument("perplexity: the stored documents hold no scored tokens");
  const std::string& precision = samples.front().precision;
  const int64_t docs = static_cast<int64_t>(ordered.size());
  const double tokens = static_cast<double>(sum.tokens);
  const double bytes = static_cast<double>(sum.bytes);
  return std::vector<MetricRecord>{
      Metric(precision, "token_ppl", std::exp(sum.nll / tokens), sum.tokens, "", "worse"),
      Metric(precision, "byte_ppl", std::exp(sum.nll / bytes), sum.bytes, "", "worse"),
      Metric(precision, "word_ppl", std::exp(sum.nll / static_cast<double>(sum.words)), sum.words, "", "worse"),
      Metric(precision, "bits_per_byte", sum.nll / (bytes * std::numbers::ln2), sum.bytes, "bits", "worse"),
      Metric(precision, "nll_sum", sum.nll, docs, "nats", "worse"),
      Metric(precision, "docs", static_cast<double>(docs), docs, "docs", ""),
      Metric(precision, "tokens", tokens, docs, "tokens", ""),
      Metric(precision, "bytes", bytes, docs, "bytes", ""),
      Metric(precision, "words", static_cast<double>(sum.words), docs, "words", ""),
  };
}

Result<std::vector<MetricRecord>> AggregateLlamaCpp(const std::vector<SampleRecord>& samples) {
  FP4LAB_ASSIGN_OR_RETURN(const auto ordered, SamplesInIndexOrder(kTask, samples, kChunkPrefix));
  std::vector<double> nlls;
  for (const SampleRecord* sample : ordered) {
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> chunk, SampleNumbers(kTask, *sample, "nlls"));
    nlls.insert(nlls.end(), chunk.begin(), chunk.end());
  }
  if (nlls.empty()) return Status::InvalidArgument("perplexity: the stored chunks hold no scored tokens");
  const std::string& precision = samples.front().precision;
  const int64_t count = static_cast<int64_t>(nlls.size());
  FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(nlls));
  const double ppl = std::exp(mean);
  MetricRecord ppl_metric = Metric(precision, "ppl", ppl, count, "", "worse");
  MetricRecord nll_metric = Metric(precision, "nll_mean", mean, count, "nats", "worse");
  if (count >= 2) {
    // llama.cpp: sqrt(var / (count - 1)) with var = E[x^2] - E[x]^2 (population variance). Since the sample
    // variance is var * n / (n - 1), this equals sample_stddev / sqrt(n) = StandardError.
    FP4LAB_ASSIGN_OR_RETURN(const double se, StandardError(nlls));
    nll_metric.stderr_value = se;
    ppl_metric.stderr_value = ppl * se;
  }
  const int64_t chunks = static_cast<int64_t>(ordered.size());
  return std::vector<MetricRecord>{
      ppl_metric,
      nll_metric,
      Metric(precision, "chunks", static_cast<double>(chunks), chunks, "chunks", ""),
      Metric(precision, "scored_tokens", static_cast<double>(count), chunks, "tokens", ""),
  };
}

Result<std::vector<ComparisonRecord>> CompareLmEval(const std::vector<SampleRecord>& candidate,
                                                    const std::vector<SampleRecord>& reference) {
  FP4LAB_ASSIGN_OR_RETURN(const auto pairs, PairById(candidate, reference, kDocPrefix));
  if (pairs.size() < 2) return std::vector<ComparisonRecord>{};
  std::vector<double> d;
  std::vector<double> tokens;
  double sum_ref = 0.0, sum_d = 0.0, total_tokens = 0.0, total_bytes = 0.0;
  for (const auto& [c, r] : pairs) {
    FP4LAB_ASSIGN_OR_RETURN(const DocTotals tc, ReadDocTotals(*c));
    FP4LAB_ASSIGN_OR_RETURN(const DocTotals tr, ReadDocTotals(*r));
    if (tc.tokens != tr.tokens || tc.bytes != tr.bytes) {
      return Status::InvalidArgument("perplexity: sample '" + c->sample_id + "' has " + std::to_string(tc.tokens) +
                                     " tokens / " + std::to_string(tc.bytes) + " bytes under " + c->precision +
                                     " but " + std::to_string(tr.tokens) + " / " + std::to_string(tr.bytes) +
                                     " under " + r->precision + "; paired items must be identical");
    }
    d.push_back(tc.nll - tr.nll);
    tokens.push_back(static_cast<double>(tc.tokens));
    sum_ref += tr.nll;
    sum_d += tc.nll - tr.nll;
    total_tokens += static_cast<double>(tc.tokens);
    total_bytes += static_cast<double>(tc.bytes);
  }
  if (total_tokens == 0.0) return std::vector<ComparisonRecord>{};
  // Ratio estimator r = sum d / T, linearized: v_j = n (d_j - r tokens_j) / T has mean 0 and
  // StandardError(v) = sqrt(n / (n - 1) * sum (d_j - r tokens_j)^2) / T = SE(r).
  const double n = static_cast<double>(pairs.size());
  const double r = sum_d / total_tokens;
  std::vector<double> v(d.size());
  for (size_t j = 0; j < d.size(); ++j) v[j] = n * (d[j] - r * tokens[j]) / total_tokens;
  FP4LAB_ASSIGN_OR_RETURN(const double se, StandardError(v));
  const double low = r - kZ95TwoSided * se;
  const double high = r + kZ95TwoSided * se;
  const double ppl_ref = std::exp(sum_ref / total_tokens);
  const double to_bpb = total_tokens / (total_bytes * std::numbers::ln2);
  const nlohmann::json extra = {{"pairing", "document, ratio estimator"},
                                {"items", pairs.size()},
                                {"tokens", total_tokens},
                                {"stderr", se}};
  const std::string& cp = pairs.front().first->precision;
  const std::string& rp = pairs.front().second->precision;
  return std::vector<ComparisonRecord>{
      Comparison(cp, rp, "ln_ppl_ratio", r, low, high, extra),
      Comparison(cp, rp, "token_ppl", ppl_ref * std::expm1(r), ppl_ref * std::expm1(low), ppl_ref * std::expm1(high),
                 extra),
      Comparison(cp, rp, "bits_per_byte", r * to_bpb, low * to_bpb, high * to_bpb, extra),
  };
}

Result<std::vector<ComparisonRecord>> CompareLlamaCpp(const std::vector<SampleRecord>& candidate,
                                                      const std::vector<SampleRecord>& reference) {
  FP4LAB_ASSIGN_OR_RETURN(const auto pairs, PairById(candidate, reference, kChunkPrefix));
  std::vector<double> nll_c, nll_r;
  for (const auto& [c, r] : pairs) {
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> xc, SampleNumbers(kTask, *c, "nlls"));
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> xr, SampleNumbers(kTask, *r, "nlls"));
    if (xc.size() != xr.size()) {
      return Status::InvalidArgument("perplexity: sample '" + c->sample_id + "' scores " + std::to_string(xc.size()) +
                                     " tokens under " + c->precision + " but " + std::to_string(xr.size()) +
                                     " under " + r->precision + "; paired items must be identical");
    }
    nll_c.insert(nll_c.end(), xc.begin(), xc.end());
    nll_r.insert(nll_r.end(), xr.begin(), xr.end());
  }
  if (nll_c.size() < 2) return std::vector<ComparisonRecord>{};
  FP4LAB_ASSIGN_OR_RETURN(const ConfidenceInterval ci, PairedNormalCi(nll_c, nll_r));
  FP4LAB_ASSIGN_OR_RETURN(const double mean_ref, Mean(nll_r));
  const double ppl_ref = std::exp(mean_ref);
  const nlohmann::json extra = {{"pairing", "token"}, {"items", pairs.size()}, {"tokens", nll_c.size()}};
  const std::string& cp = pairs.front().first->precision;
  const std::string& rp = pairs.front().second->precision;
  return std::vector<ComparisonRecord>{
      Comparison(cp, rp, "ln_ppl_ratio", ci.estimate, ci.low, ci.high, extra),
      Comparison(cp, rp, "ppl", ppl_ref * std::expm1(ci.estimate), ppl_ref * std::expm1(ci.low),
                 ppl_ref * std::expm1(ci.high), extra),
  };
}

}  // namespace

Result<PerplexityConvention> ParsePerplexityConvention(std::string_view name) {
  if (name == "lmeval") return PerplexityConvention::kLmEval;
  if (name == "llamacpp") return PerplexityConvention::kLlamaCpp;
  return Status::InvalidArgument("perplexity: convention '" + std::string(name) +
                                 "' is not one of \"lmeval\", \"llamacpp\"");
}

const char* PerplexityConventionName(PerplexityConvention convention) {
  return convention == PerplexityConvention::kLmEval ? "lmeval" : "llamacpp";
}

int64_t CountPythonWords(std::string_view text) {
  int64_t words = 1;
  bool in_space = false;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    i += DecodeUtf8At(text, i, cp);
    const bool space = IsPythonSpace(cp);
    if (space && !in_space) ++words;
    in_space = space;
  }
  return words;
}

Result<std::unique_ptr<PerplexityTask>> PerplexityTask::Create(PerplexityOptions options) {
  if (options.ctx < 0 ||
      (options.convention == PerplexityConvention::kLlamaCpp && options.ctx > 0 && options.ctx < kLlamaCppMinCtx)) {
    return Status::InvalidArgument("perplexity: ctx " + std::to_string(options.ctx) + " is invalid for convention " +
                                   PerplexityConventionName(options.convention) + " (expected 0 for the default" +
                                   (options.convention == PerplexityConvention::kLlamaCpp ? " or >= 3)" : " or >= 1)"));
  }
  FP4LAB_ASSIGN_OR_RETURN(TextCorpus corpus, ReadTextCorpus(options.data_path));
  std::string text;
  if (options.convention == PerplexityConvention::kLlamaCpp) {
    FP4LAB_ASSIGN_OR_RETURN(text, ReadFile(options.data_path));
  }
  return std::unique_ptr<PerplexityTask>(new PerplexityTask(std::move(options), std::move(corpus), std::move(text)));
}

nlohmann::json PerplexityTask::Config() const {
  return {{"convention", PerplexityConventionName(options_.convention)},
          {"ctx", options_.ctx},
          {"data", options_.data_path}};
}

Status PerplexityTask::Preflight(const LanguageModel& model, const LanguageModel* reference) const {
  (void)reference;
  FP4LAB_RETURN_IF_ERROR(RefuseBlockDiffusionModel(model, "perplexity", "denoiser_fidelity"));
  if (options_.convention == PerplexityConvention::kLmEval) {
    return CheckCtx(options_.ctx > 0 ? options_.ctx : model.MaxContext(), model);
  }
  return LlamaCppStream(model, options_.ctx > 0 ? options_.ctx : kLlamaCppDefaultCtx).status();
}

Result<std::vector<TokenId>> PerplexityTask::LlamaCppStream(const LanguageModel& model, int ctx) const {
  FP4LAB_RETURN_IF_ERROR(CheckCtx(ctx, model));
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TokenId> stream, model.Encode(text_));
  stream.insert(stream.begin(), model.BosId());
  if (LlamaCppChunkCount(stream.size(), ctx) == 0) {
    return Status::InvalidArgument(options_.data_path + ": text has " + std::to_string(stream.size()) +
                                   " tokens (with BOS), fewer than one chunk of " + std::to_string(ctx));
  }
  return stream;
}

Status PerplexityTask::Run(TaskRun& run) {
  if (options_.convention == PerplexityConvention::kLmEval) {
    return RunLmEval(run, options_.ctx > 0 ? options_.ctx : run.model.MaxContext());
  }
  return RunLlamaCpp(run, options_.ctx > 0 ? options_.ctx : kLlamaCppDefaultCtx);
}

// Documents go to the model in groups of about kScoreGroupTokens window tokens: every window of a group in one
// LogLikelihoodBatch (tasks/lm_requests.h), each document's NLL then summed over its windows in window order, so the
// numbers equal one LogLikelihood call per window.
Status PerplexityTask::RunLmEval(TaskRun& run, int ctx) {
  LanguageModel& model = run.model;
  FP4LAB_RETURN_IF_ERROR(CheckCtx(ctx, model));
  const std::vector<int64_t> pending =
      PendingItems(run, kDocPrefix, static_cast<int64_t>(corpus_.documents.size()));
  struct Document {
    int64_t index = 0;
    std::string_view text;
    std::vector<TokenId> tokens;
    std::vector<RollingWindow> windows;
  };
  size_t next = 0;
  while (next < pending.size()) {
    std::vector<Document> group;
    int64_t group_tokens = 0;
    while (next < pending.size() && (group.empty() || group_tokens < kScoreGroupTokens)) {
      Document doc;
      doc.index = pending[next++];
      doc.text = PythonStrip(corpus_.documents[static_cast<size_t>(doc.index)]);
      FP4LAB_ASSIGN_OR_RETURN(doc.tokens, model.Encode(doc.text));
      doc.windows = RollingTokenWindows(doc.tokens, model.BosId(), ctx);
      for (const RollingWindow& w : doc.windows) {
        group_tokens += static_cast<int64_t>(w.context.size() + w.continuation.size()) - 1;
      }
      group.push_back(std::move(doc));
    }
    std::vector<LogLikelihoodRequest> requests;
    for (const Document& doc : group) {
      for (const RollingWindow& w : doc.windows) requests.push_back({w.context, w.continuation});
    }
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<LogLikelihoodResult> scored, LogLikelihoodBatch(model, requests));
    std::vector<SampleRecord> batch;
    size_t window = 0;
    for (Document& doc : group) {
      double nll = 0.0;
      for (size_t w = 0; w < doc.windows.size(); ++w) nll -= scored[window++].logprob;
      SampleRecord sample;
      sample.sample_id = IndexedSampleId(kDocPrefix, doc.index);
      sample.score = nll;
      doc.tokens.insert(doc.tokens.begin(), model.BosId());
      sample.prompt_sha256 = TokensSha256(doc.tokens);
      sample.data = {{"nll_sum", nll},
                     {"tokens", doc.tokens.size() - 1},
                     {"bytes", doc.text.size()},
                     {"words", CountPythonWords(doc.text)},
                     {"windows", doc.windows.size()},
                     {"ctx", ctx}};
      if (run.log_samples) sample.prompt_text = std::string(doc.text);
      batch.push_back(std::move(sample));
    }
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(static_cast<int64_t>(next), static_cast<int64_t>(pending.size()));
  }
  return Status::Ok();
}

// Chunks go to the model kScoreGroupTokens / ctx at a time (at least one) in one TokenNllsBatch: chunks are all ctx
// tokens long, so the engine packs them into passes without padding.
Status PerplexityTask::RunLlamaCpp(TaskRun& run, int ctx) {
  LanguageModel& model = run.model;
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> stream, LlamaCppStream(model, ctx));
  const int64_t chunks = LlamaCppChunkCount(stream.size(), ctx);
  const std::vector<int64_t> pending = PendingItems(run, kChunkPrefix, chunks);
  const size_t per_group = static_cast<size_t>(std::max<int64_t>(1, kScoreGroupTokens / ctx));
  for (size_t start = 0; start < pending.size(); start += per_group) {
    const size_t end = std::min(pending.size(), start + per_group);
    std::vector<std::vector<TokenId>> group;
    for (size_t k = start; k < end; ++k) group.push_back(LlamaCppChunk(stream, ctx, pending[k], model.BosId()));
    const std::vector<std::span<const TokenId>> inputs(group.begin(), group.end());
    FP4LAB_ASSIGN_OR_RETURN(const auto group_nlls, TokenNllsBatch(model, inputs, LlamaCppFirstScoredRow(ctx)));
    std::vector<SampleRecord> batch;
    for (size_t k = start; k < end; ++k) {
      const std::vector<TokenId>& chunk = group[k - start];
      const std::vector<double>& nlls = group_nlls[k - start];
      double nll_sum = 0.0;
      for (double x : nlls) nll_sum += x;
      SampleRecord sample;
      sample.sample_id = IndexedSampleId(kChunkPrefix, pending[k]);
      sample.score = nll_sum;
      sample.prompt_sha256 = TokensSha256(chunk);
      sample.data = {{"nlls", nlls}, {"nll_sum", nll_sum}, {"tokens", nlls.size()}, {"ctx", ctx}};
      if (run.log_samples) sample.prompt_text = model.Decode(chunk);
      batch.push_back(std::move(sample));
    }
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(static_cast<int64_t>(end), static_cast<int64_t>(pending.size()));
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> PerplexityTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  if (samples.empty()) return Status::InvalidArgument("perplexity: no samples to aggregate");
  return options_.convention == PerplexityConvention::kLmEval ? AggregateLmEval(samples)
                                                              : AggregateLlamaCpp(samples);
}

Result<std::vector<ComparisonRecord>> PerplexityTask::Compare(const std::vector<SampleRecord>& candidate,
                                                              const std::vector<SampleRecord>& reference) const {
  return options_.convention == PerplexityConvention::kLmEval ? CompareLmEval(candidate, reference)
                                                              : CompareLlamaCpp(candidate, reference);
}

}  // namespace fp4lab
