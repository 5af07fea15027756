#include "tasks/fidelity.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "engine/file_util.h"
#include "results/stats.h"
#include "tasks/causal_only.h"
#include "tasks/lm_requests.h"
#include "tasks/sample_fields.h"

namespace fp4lab {
namespace {

constexpr std::string_view kTask = "fidelity";
constexpr std::string_view kChunkPrefix = "chunk";
constexpr int kMinCtx = 3;  // ctx/2 .. ctx-2 must hold at least one row

Status CheckCtx(int ctx, const LanguageModel& model, const char* which) {
  if (ctx <= model.MaxContext()) return Status::Ok();
  return Status::InvalidArgument("fidelity: ctx " + std::to_string(ctx) + " exceeds the " + which +
                                 " model's max context " + std::to_string(model.MaxContext()));
}

MetricRecord Metric(const std::string& precision, const char* name, double value, int64_t n, const char* unit,
                    const char* higher_is, std::optional<double> stderr_value = std::nullopt) {
  return MakeMetric(kTask, precision, name, value, n, unit, higher_is, stderr_value);
}

// StandardError when n >= 2, else absent.
Result<std::optional<double>> OptionalStderr(const std::vector<double>& values) {
  if (values.size() < 2) return std::optional<double>();
  FP4LAB_ASSIGN_OR_RETURN(const double se, StandardError(values));
  return std::optional<double>(se);
}

// All positions of the stored chunks, concatenated in chunk order.
struct Positions {
  std::vector<double> kld, delta_p, nll_ref, nll_q, kld_bound;
  int64_t same_top = 0;
};

}  // namespace

PositionFidelity ComparePosition(std::span<const float> reference_logits, std::span<const float> candidate_logits,
                                 TokenId correct) {
  const std::vector<double> lp = LogSoftmax(reference_logits);
  const std::vector<double> lq = LogSoftmax(candidate_logits);
  PositionFidelity out;
  for (size_t v = 0; v < lp.size(); ++v) {
    const double p = std::exp(lp[v]);
    if (p > 0.0) out.kld += p * (lp[v] - lq[v]);
  }
  const size_t c = static_cast<size_t>(correct);
  out.delta_p = std::exp(lq[c]) - std::exp(lp[c]);
  out.same_top = ArgMax(reference_logits) == ArgMax(candidate_logits);
  out.nll_ref = -lp[c];
  out.nll_q = -lq[c];
  return out;
}

PositionFidelity ComparePosition(const ReferenceRow& reference, std::span<const float> candidate_logits) {
  const std::vector<double> lq = LogSoftmax(candidate_logits);
  PositionFidelity out;
  for (size_t v = 0; v < lq.size(); ++v) {
    const double p = std::exp(reference.logprobs[v]);
    if (p > 0.0) out.kld += p * (reference.logprobs[v] - lq[v]);
  }
  const size_t c = static_cast<size_t>(reference.correct);
  out.delta_p = std::exp(lq[c]) - std::exp(reference.correct_logprob);
  out.same_top = reference.argmax == ArgMax(candidate_logits);
  out.nll_ref = -reference.correct_logprob;
  out.nll_q = -lq[c];
  out.kld_bound = KlCompressionBound(reference, lq);
  return out;
}

const std::vector<double>& KldBinEdges() {
  static const std::vector<double> edges = [] {
    std::vector<double> e;
    for (int k = -12; k <= 2; ++k) e.push_back(std::pow(10.0, k / 2.0));
    return e;
  }();
  return edges;
}

std::vector<int64_t> KldHistogram(std::span<const double> kld) {
  const std::vector<double>& edges = KldBinEdges();
  std::vector<int64_t> counts(edges.size() + 1, 0);
  for (double x : kld) {
    // upper_bound: the first edge > x, so x == edges[i] lands in bin i + 1 ([edges[i], edges[i+1])).
    const size_t bin = static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
    ++counts[bin];
  }
  return counts;
}

Result<std::unique_ptr<FidelityTask>> FidelityTask::Create(FidelityOptions options) {
  if (options.ctx < kMinCtx) {
    return Status::InvalidArgument("fidelity: ctx " + std::to_string(options.ctx) + " must be >= " +
                                   std::to_string(kMinCtx));
  }
  FP4LAB_ASSIGN_OR_RETURN(const TextCorpus corpus, ReadTextCorpus(options.data_path));
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(options.data_path));
  return std::unique_ptr<FidelityTask>(new FidelityTask(std::move(options), std::move(text), corpus.sha256));
}

nlohmann::json FidelityTask::Config() const { return {{"ctx", options_.ctx}, {"data", options_.data_path}}; }

Result<std::vector<TokenId>> FidelityTask::Stream(const LanguageModel& model, const char* which) const {
  FP4LAB_RETURN_IF_ERROR(CheckCtx(options_.ctx, model, which));
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TokenId> stream, model.Encode(text_));
  stream.insert(stream.begin(), model.BosId());
  if (LlamaCppChunkCount(stream.size(), options_.ctx) == 0) {
    return Status::InvalidArgument(options_.data_path + ": text has " + std::to_string(stream.size()) +
                                   " tokens (with BOS), fewer than one chunk of " + std::to_string(options_.ctx) +
                                   " (--ctx); give a longer text or a smaller --ctx");
  }
  return stream;
}

Status FidelityTask::Preflight(const LanguageModel& model, const LanguageModel* reference) const {
  FP4LAB_RETURN_IF_ERROR(RefuseBlockDiffusionModel(model, "fidelity", "denoiser_fidelity"));
  if (reference == nullptr) {
    return Status::FailedPrecondition("fidelity: needs the reference model (run it with a reference precision)");
  }
  if (model.VocabSize() != reference->VocabSize()) {
    return Status::InvalidArgument("fidelity: candidate vocab " + std::to_string(model.VocabSize()) +
                                   " differs from reference vocab " + std::to_string(reference->VocabSize()));
  }
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> reference_stream, Stream(*reference, "reference"));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> candidate_stream, Stream(model, "candidate"));
  if (candidate_stream != reference_stream) {
    return Status::InvalidArgument(options_.data_path + ": the candidate's tokenizer encodes the text differently "
                                   "from the reference's (" + std::to_string(candidate_stream.size()) + " vs " +
                                   std::to_string(reference_stream.size()) +
                                   " tokens); fidelity compares both models on identical tokens");
  }
  return Status::Ok();
}

namespace {

Status CheckToken(TokenId token, size_t vocab) {
  if (token >= 0 && static_cast<size_t>(token) < vocab) return Status::Ok();
  return Status::InvalidArgument("fidelity: token " + std::to_string(token) + " outside the vocabulary of " +
                                 std::to_string(vocab));
}

// The sample of one chunk from its scored positions.
SampleRecord ChunkSample(const std::string& sample_id, const std::vector<TokenId>& chunk,
                         const std::vector<PositionFidelity>& scored, int ctx) {
  Positions positions;
  std::vector<double> kld_bound;
  std::vector<bool> same_top;
  for (const PositionFidelity& pos : scored) {
    positions.kld.push_back(pos.kld);
    positions.delta_p.push_back(pos.delta_p);
    positions.nll_ref.push_back(pos.nll_ref);
    positions.nll_q.push_back(pos.nll_q);
    kld_bound.push_back(pos.kld_bound);
    same_top.push_back(pos.same_top);
  }
  double kld_sum = 0.0;
  for (double x : positions.kld) kld_sum += x;
  SampleRecord sample;
  sample.sample_id = sample_id;
  sample.score = kld_sum / static_cast<double>(positions.kld.size());
  sample.prompt_sha256 = TokensSha256(chunk);
  sample.data = {{"kld", positions.kld},
                 {"kld_bound", kld_bound},
                 {"delta_p", positions.delta_p},
                 {"same_top", same_top},
                 {"nll_ref", positions.nll_ref},
                 {"nll_q", positions.nll_q},
                 {"kld_bin_edges", KldBinEdges()},
                 {"kld_hist", KldHistogram(positions.kld)},
                 {"ctx", ctx}};
  return sample;
}

}  // namespace

Result<SampleRecord> FidelityTask::ReferenceSample(std::span<const float> rows, const std::vector<TokenId>& chunk,
                                                   size_t vocab) const {
  const int first = LlamaCppFirstScoredRow(options_.ctx);
  std::vector<PositionFidelity> scored;
  std::vector<std::string> stored;
  for (int r = first; r + 1 < options_.ctx; ++r) {
    const TokenId correct = chunk[static_cast<size_t>(r) + 1];
    FP4LAB_RETURN_IF_ERROR(CheckToken(correct, vocab));
    const std::span<const float> row = rows.subspan(static_cast<size_t>(r - first) * vocab, vocab);
    scored.push_back(ComparePosition(row, row, correct));
    stored.push_back(CompressReferenceRow(row, correct));
  }
  SampleRecord sample = ChunkSample("", chunk, scored, options_.ctx);
  sample.attachment = std::move(stored);
  return sample;
}

Result<SampleRecord> FidelityTask::CandidateSample(std::span<const float> rows, const std::vector<TokenId>& chunk,
                                                   const std::vector<std::string>& parts,
                                                   const std::string& sample_id, size_t vocab) const {
  const int first = LlamaCppFirstScoredRow(options_.ctx);
  const size_t expected_rows = static_cast<size_t>(options_.ctx - 1 - first);
  if (parts.empty()) {
    return Status::FailedPrecondition("fidelity: the reference's log-probs of " + sample_id +
                                      " are not stored (the reference precision must run first, with this fp4lab)");
  }
  if (parts.size() != expected_rows) {
    return Status::InvalidArgument("fidelity: the reference stored " + std::to_string(parts.size()) + " rows of " +
                                   sample_id + "; ctx " + std::to_string(options_.ctx) + " scores " +
                                   std::to_string(expected_rows));
  }
  std::vector<PositionFidelity> scored;
  for (int r = first; r + 1 < options_.ctx; ++r) {
    const TokenId correct = chunk[static_cast<size_t>(r) + 1];
    FP4LAB_RETURN_IF_ERROR(CheckToken(correct, vocab));
    const std::string what = "the reference's row " + std::to_string(r) + " of " + sample_id;
    FP4LAB_ASSIGN_OR_RETURN(const ReferenceRow stored,
                            DecompressReferenceRow(parts[static_cast<size_t>(r - first)], static_cast<int>(vocab), what));
    if (stored.correct != correct) {
      return Status::InvalidArgument("fidelity: " + what + " scores token " + std::to_string(stored.correct) +
                                     ", the chunk has " + std::to_string(correct) + " there");
    }
    scored.push_back(ComparePosition(stored, rows.subspan(static_cast<size_t>(r - first) * vocab, vocab)));
  }
  return ChunkSample(sample_id, chunk, scored, options_.ctx);
}

// Chunks go to the model kScoreGroupTokens / ctx at a time (at least one) in one LogitsBatch whose rows ctx/2 ..
// ctx-1 come to the host one engine pass at a time (the engine's memory budget bounds them); each chunk's sample
// is made as its rows arrive (a candidate reads that chunk's stored reference rows then), so at most one chunk's
// stored rows are held at once. The numbers equal one Logits call per chunk.
Status FidelityTask::Run(TaskRun& run) {
  LanguageModel& model = run.model;
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> stream, Stream(model, run.is_reference ? "reference" : "candidate"));
  if (!run.is_reference && !run.reference_attachment) {
    return Status::FailedPrecondition("fidelity: needs the reference precision's stored log-probs");
  }
  const int64_t chunks = LlamaCppChunkCount(stream.size(), options_.ctx);
  std::vector<int64_t> pending;
  for (int64_t i = 0; i < chunks; ++i) {
    if (run.should_run(IndexedSampleId(kChunkPrefix, i))) pending.push_back(i);
  }
  const size_t vocab = static_cast<size_t>(model.VocabSize());
  const size_t per_group = static_cast<size_t>(std::max<int64_t>(1, kScoreGroupTokens / options_.ctx));
  for (size_t start = 0; start < pending.size(); start += per_group) {
    const size_t end = std::min(pending.size(), start + per_group);
    std::vector<std::vector<TokenId>> group;
    std::vector<LogitsSequence> sequences;
    for (size_t k = start; k < end; ++k) {
      group.push_back(LlamaCppChunk(stream, options_.ctx, pending[k], model.BosId()));
    }
    for (const std::vector<TokenId>& chunk : group) sequences.push_back({chunk, LlamaCppFirstScoredRow(options_.ctx)});
    std::vector<SampleRecord> batch;
    const auto on_rows = [&](size_t i, std::span<const float> rows) -> Status {
      const std::string sample_id = IndexedSampleId(kChunkPrefix, pending[start + i]);
      SampleRecord sample;
      if (run.is_reference) {
        FP4LAB_ASSIGN_OR_RETURN(sample, ReferenceSample(rows, group[i], vocab));
        sample.sample_id = sample_id;
      } else {
        FP4LAB_ASSIGN_OR_RETURN(const std::vector<std::string> parts, run.reference_attachment(sample_id));
        FP4LAB_ASSIGN_OR_RETURN(sample, CandidateSample(rows, group[i], parts, sample_id, vocab));
      }
      if (run.log_samples) sample.prompt_text = model.Decode(group[i]);
      batch.push_back(std::move(sample));
      return Status::Ok();
    };
    FP4LAB_RETURN_IF_ERROR(model.LogitsBatch(sequences, on_rows));
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(static_cast<int64_t>(end), static_cast<int64_t>(pending.size()));
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> FidelityTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  if (samples.empty()) return Status::InvalidArgument("fidelity: no samples to aggregate");
  FP4LAB_ASSIGN_OR_RETURN(const auto ordered, SamplesInIndexOrder(kTask, samples, kChunkPrefix));
  Positions all;
  int64_t positions = 0;
  for (const SampleRecord* sample : ordered) {
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> kld, SampleNumbers(kTask, *sample, "kld"));
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> delta_p, SampleNumbers(kTask, *sample, "delta_p"));
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> nll_ref, SampleNumbers(kTask, *sample, "nll_ref"));
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> nll_q, SampleNumbers(kTask, *sample, "nll_q"));
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<bool> same_top, SampleFlags(kTask, *sample, "same_top"));
    const size_t n = kld.size();
    if (delta_p.size() != n || nll_ref.size() != n || nll_q.size() != n || same_top.size() != n) {
      return Status::InvalidArgument("fidelity: sample '" + sample->sample_id +
                                     "': kld, delta_p, nll_ref, nll_q and same_top differ in length");
    }
    all.kld.insert(all.kld.end(), kld.begin(), kld.end());
    all.delta_p.insert(all.delta_p.end(), delta_p.begin(), delta_p.end());
    all.nll_ref.insert(all.nll_ref.end(), nll_ref.begin(), nll_ref.end());
    all.nll_q.insert(all.nll_q.end(), nll_q.begin(), nll_q.end());
    all.same_top += std::count(same_top.begin(), same_top.end(), true);
    if (sample->data.contains("kld_bound")) {  // absent from samples stored by fidelity version 1 (exact)
      FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> bound, SampleNumbers(kTask, *sample, "kld_bound"));
      if (bound.size() != n) {
        return Status::InvalidArgument("fidelity: sample '" + sample->sample_id + "': kld_bound and kld differ in length");
      }
      all.kld_bound.insert(all.kld_bound.end(), bound.begin(), bound.end());
    }
    positions += static_cast<int64_t>(n);
  }
  if (positions == 0) return Status::InvalidArgument("fidelity: the stored chunks hold no scored positions");
  const std::string& precision = samples.front().precision;
  const int64_t n = positions;

  FP4LAB_ASSIGN_OR_RETURN(const double kld_mean, Mean(all.kld));
  FP4LAB_ASSIGN_OR_RETURN(const auto kld_se, OptionalStderr(all.kld));
  FP4LAB_ASSIGN_OR_RETURN(const double kld_median, Percentile(all.kld, 50.0));
  FP4LAB_ASSIGN_OR_RETURN(const double kld_p90, Percentile(all.kld, 90.0));
  FP4LAB_ASSIGN_OR_RETURN(const double kld_p99, Percentile(all.kld, 99.0));
  FP4LAB_ASSIGN_OR_RETURN(const double kld_p999, Percentile(all.kld, 99.9));
  const double kld_max = *std::max_element(all.kld.begin(), all.kld.end());

  const double top_p = static_cast<double>(all.same_top) / static_cast<double>(n);
  std::optional<double> top_se;
  if (n >= 2) top_se = 100.0 * std::sqrt(top_p * (1.0 - top_p) / static_cast<double>(n - 1));

  FP4LAB_ASSIGN_OR_RETURN(const double dp_mean, Mean(all.delta_p));
  FP4LAB_ASSIGN_OR_RETURN(const auto dp_se, OptionalStderr(all.delta_p));
  double dp_sq = 0.0;
  for (double x : all.delta_p) dp_sq += x * x;
  const double dp_rms = std::sqrt(dp_sq / static_cast<double>(n));

  std::vector<double> nll_diff(all.nll_q.size());
  for (size_t i = 0; i < nll_diff.size(); ++i) nll_diff[i] = all.nll_q[i] - all.nll_ref[i];
  FP4LAB_ASSIGN_OR_RETURN(const double ln_ratio, Mean(nll_diff));
  FP4LAB_ASSIGN_OR_RETURN(const auto ln_ratio_se, OptionalStderr(nll_diff));
  FP4LAB_ASSIGN_OR_RETURN(const double nll_ref_mean, Mean(all.nll_ref));
  FP4LAB_ASSIGN_OR_RETURN(const auto nll_ref_se, OptionalStderr(all.nll_ref));
  FP4LAB_ASSIGN_OR_RETURN(const double nll_q_mean, Mean(all.nll_q));
  FP4LAB_ASSIGN_OR_RETURN(const auto nll_q_se, OptionalStderr(all.nll_q));
  const double ppl_ref = std::exp(nll_ref_mean);
  const double ppl_q = std::exp(nll_q_mean);
  const auto scaled = [](std::optional<double> se, double factor) {
    return se ? std::optional<double>(*se * factor) : std::nullopt;
  };

  const int64_t chunks = static_cast<int64_t>(ordered.size());
  std::vector<MetricRecord> metrics = {
      Metric(precision, "kld_mean", kld_mean, n, "nats", "worse", kld_se),
      Metric(precision, "kld_median", kld_median, n, "nats", "worse"),
      Metric(precision, "kld_p90", kld_p90, n, "nats", "worse"),
      Metric(precision, "kld_p99", kld_p99, n, "nats", "worse"),
      Metric(precision, "kld_p999", kld_p999, n, "nats", "worse"),
      Metric(precision, "kld_max", kld_max, n, "nats", "worse"),
      Metric(precision, "same_top_p", 100.0 * top_p, n, "%", "better", top_se),
      Metric(precision, "delta_p_mean", 100.0 * dp_mean, n, "%", "better", scaled(dp_se, 100.0)),
      Metric(precision, "delta_p_rms", 100.0 * dp_rms, n, "%", "worse"),
      Metric(precision, "ln_ppl_ratio", ln_ratio, n, "", "worse", ln_ratio_se),
      Metric(precision, "ppl_ref", ppl_ref, n, "", "worse", scaled(nll_ref_se, ppl_ref)),
      Metric(precision, "ppl_q", ppl_q, n, "", "worse", scaled(nll_q_se, ppl_q)),
      Metric(precision, "positions", static_cast<double>(n), chunks, "tokens", ""),
  };
  if (all.kld_bound.size() == all.kld.size()) {
    FP4LAB_ASSIGN_OR_RETURN(const double bound_mean, Mean(all.kld_bound));
    metrics.push_back(Metric(precision, "kld_bound_mean", bound_mean, n, "nats", ""));
  }
  return metrics;
}

}  // namespace fp4lab
