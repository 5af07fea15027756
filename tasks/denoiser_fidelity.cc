#include "tasks/denoiser_fidelity.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <utility>

#include "datasets/text_corpus.h"
#include "engine/file_util.h"
#include "results/stats.h"
#include "tasks/causal_only.h"
#include "tasks/fidelity.h"  // ComparePosition
#include "tasks/lm_requests.h"
#include "tasks/reference_logprobs.h"
#include "tasks/sample_fields.h"

namespace fp4lab {
namespace {

constexpr std::string_view kTask = "denoiser_fidelity";
constexpr std::string_view kPromptPrefix = "prompt";
constexpr int kSteps = 2;

// The per-position statistics of one denoising step of one canvas.
struct StepFidelity {
  std::vector<double> kld, kld_bound;
  std::vector<bool> same_top;
};

std::string StepKey(int step, const char* field) { return "step" + std::to_string(step) + "_" + field; }

// Resets `denoiser`, commits `prompt` and runs step 1 (no self-conditioning): logits [canvas, vocab].
Result<std::vector<float>> FirstStep(BlockDenoiser& denoiser, std::span<const TokenId> prompt,
                                     std::span<const TokenId> canvas) {
  std::vector<float> logits(canvas.size() * static_cast<size_t>(denoiser.vocab_size()));
  denoiser.Reset();
  FP4LAB_RETURN_IF_ERROR(denoiser.Commit(prompt));
  FP4LAB_RETURN_IF_ERROR(denoiser.Denoise(canvas, {}, logits));
  return logits;
}

// Decodes the reference's stored rows of one step (parts [step * C, (step + 1) * C)), checking them against the
// canvas.
Result<std::vector<ReferenceRow>> StoredStep(const std::vector<std::string>& parts, int step,
                                             std::span<const TokenId> canvas, int vocab, const std::string& sample_id) {
  std::vector<ReferenceRow> rows;
  for (size_t j = 0; j < canvas.size(); ++j) {
    const std::string what = "the reference's step-" + std::to_string(step + 1) + " row " + std::to_string(j) +
                             " of " + sample_id;
    FP4LAB_ASSIGN_OR_RETURN(ReferenceRow row,
                            DecompressReferenceRow(parts[static_cast<size_t>(step) * canvas.size() + j], vocab, what));
    if (row.correct != canvas[j]) {
      return Status::InvalidArgument("denoiser_fidelity: " + what + " was computed on canvas id " +
                                     std::to_string(row.correct) + ", this canvas has " + std::to_string(canvas[j]) +
                                     " there (a different seed or vocabulary)");
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// The self-conditioning input both models read at step 2: the decoded step-1 rows, [canvas, vocab] f32.
std::vector<float> SelfConditioning(const std::vector<ReferenceRow>& step1) {
  std::vector<float> out;
  for (const ReferenceRow& row : step1) {
    for (double lp : row.logprobs) out.push_back(static_cast<float>(lp));
  }
  return out;
}

SampleRecord PromptSample(const std::string& sample_id, std::span<const TokenId> prompt, int canvas_length,
                          const std::array<StepFidelity, kSteps>& steps) {
  SampleRecord sample;
  sample.sample_id = sample_id;
  double sum = 0.0;
  for (double x : steps[0].kld) sum += x;
  sample.score = sum / static_cast<double>(steps[0].kld.size());
  sample.prompt_sha256 = TokensSha256(prompt);
  sample.data = {{"canvas_length", canvas_length}, {"prompt_tokens", prompt.size()}};
  for (int s = 0; s < kSteps; ++s) {
    sample.data[StepKey(s + 1, "kld")] = steps[static_cast<size_t>(s)].kld;
    sample.data[StepKey(s + 1, "kld_bound")] = steps[static_cast<size_t>(s)].kld_bound;
    sample.data[StepKey(s + 1, "same_top")] = steps[static_cast<size_t>(s)].same_top;
  }
  return sample;
}

}  // namespace

std::vector<TokenId> DenoiserCanvas(int64_t length, int64_t vocab, uint64_t seed) {
  std::vector<TokenId> ids;
  uint64_t state = seed;
  for (int64_t i = 0; i < length; ++i) {
    // SplitMix64 (Steele, Lea and Flood 2014).
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    ids.push_back(static_cast<TokenId>(z % static_cast<uint64_t>(vocab)));
  }
  return ids;
}

Result<std::unique_ptr<DenoiserFidelityTask>> DenoiserFidelityTask::Create(DenoiserFidelityOptions options) {
  if (options.prompts < 1 || options.prompt_tokens < 2) {
    return Status::InvalidArgument("denoiser_fidelity: prompts must be >= 1 and prompt_tokens >= 2, got " +
                                   std::to_string(options.prompts) + " and " + std::to_string(options.prompt_tokens));
  }
  FP4LAB_ASSIGN_OR_RETURN(const TextCorpus corpus, ReadTextCorpus(options.data_path));
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(options.data_path));
  return std::unique_ptr<DenoiserFidelityTask>(
      new DenoiserFidelityTask(std::move(options), std::move(text), corpus.sha256));
}

nlohmann::json DenoiserFidelityTask::Config() const {
  return {{"data", options_.data_path},
          {"prompts", options_.prompts},
          {"prompt_tokens", options_.prompt_tokens},
          {"seed", options_.seed},
          {"convention",
           "KL(reference || candidate) and top-1 agreement of the block-diffusion decoder's logits over every canvas "
           "position, at step 1 (no self-conditioning) and step 2 (self-conditioned on the reference's step-1 "
           "logits, 16-bit stored, fed to both); identical prompts and canvases (seeded uniform ids)"}};
}

Result<std::vector<std::vector<TokenId>>> DenoiserFidelityTask::Prompts(const LanguageModel& model) const {
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> text, model.Encode(text_));
  const size_t per_prompt = static_cast<size_t>(options_.prompt_tokens - 1);
  const size_t needed = per_prompt * static_cast<size_t>(options_.prompts);
  if (text.size() < needed) {
    return Status::InvalidArgument(options_.data_path + ": text has " + std::to_string(text.size()) +
                                   " tokens, fewer than the " + std::to_string(needed) + " that " +
                                   std::to_string(options_.prompts) + " prompts of " +
                                   std::to_string(options_.prompt_tokens) + " tokens (BOS included) read");
  }
  std::vector<std::vector<TokenId>> prompts;
  for (size_t i = 0; i < static_cast<size_t>(options_.prompts); ++i) {
    std::vector<TokenId> prompt = {model.BosId()};
    prompt.insert(prompt.end(), text.begin() + static_cast<std::ptrdiff_t>(i * per_prompt),
                  text.begin() + static_cast<std::ptrdiff_t>((i + 1) * per_prompt));
    prompts.push_back(std::move(prompt));
  }
  return prompts;
}

Status DenoiserFidelityTask::Preflight(const LanguageModel& model, const LanguageModel* reference) const {
  const BlockDenoiser* candidate = BlockDenoiserFacts(model);
  if (candidate == nullptr) {
    return Status::InvalidArgument("denoiser_fidelity: " + model.Describe() +
                                   " is not a block-diffusion model (it has no denoiser); use the fidelity task");
  }
  if (reference == nullptr) {
    return Status::FailedPrecondition(
        "denoiser_fidelity: needs the reference model (run it with a reference precision)");
  }
  const BlockDenoiser* base = BlockDenoiserFacts(*reference);
  if (base == nullptr) {
    return Status::InvalidArgument("denoiser_fidelity: the reference " + reference->Describe() +
                                   " is not a block-diffusion model");
  }
  if (candidate->vocab_size() != base->vocab_size() || candidate->canvas_length() != base->canvas_length()) {
    return Status::InvalidArgument(
        "denoiser_fidelity: the candidate's vocabulary and canvas (" + std::to_string(candidate->vocab_size()) + ", " +
        std::to_string(candidate->canvas_length()) + ") differ from the reference's (" +
        std::to_string(base->vocab_size()) + ", " + std::to_string(base->canvas_length()) + ")");
  }
  for (const BlockDenoiser* d : {candidate, base}) {
    if (options_.prompt_tokens + static_cast<int64_t>(d->canvas_length()) > d->max_context()) {
      return Status::InvalidArgument("denoiser_fidelity: a prompt of " + std::to_string(options_.prompt_tokens) +
                                     " tokens plus a canvas of " + std::to_string(d->canvas_length()) +
                                     " exceeds the model's context of " + std::to_string(d->max_context()) +
                                     " (lower prompt_tokens)");
    }
  }
  FP4LAB_ASSIGN_OR_RETURN(const auto candidate_prompts, Prompts(model));
  FP4LAB_ASSIGN_OR_RETURN(const auto reference_prompts, Prompts(*reference));
  if (candidate_prompts != reference_prompts) {
    return Status::InvalidArgument(options_.data_path +
                                   ": the candidate's tokenizer encodes the text differently from the reference's; "
                                   "denoiser_fidelity compares both models on identical prompts");
  }
  return Status::Ok();
}

Status DenoiserFidelityTask::Run(TaskRun& run) {
  BlockDenoiser* denoiser = run.model.AsBlockDenoiser();
  if (denoiser == nullptr) {
    return Status::FailedPrecondition("denoiser_fidelity: " + run.model.Describe() +
                                      " is not a block-diffusion model; use the fidelity task");
  }
  if (!run.is_reference && !run.reference_attachment) {
    return Status::FailedPrecondition("denoiser_fidelity: needs the reference precision's stored logits");
  }
  FP4LAB_ASSIGN_OR_RETURN(const auto prompts, Prompts(run.model));
  const int canvas_length = denoiser->canvas_length();
  const int vocab = static_cast<int>(denoiser->vocab_size());
  std::vector<size_t> pending;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (run.should_run(IndexedSampleId(kPromptPrefix, static_cast<int64_t>(i)))) pending.push_back(i);
  }
  int64_t done = 0;
  for (const size_t i : pending) {
    const std::string sample_id = IndexedSampleId(kPromptPrefix, static_cast<int64_t>(i));
    const std::vector<TokenId> canvas = DenoiserCanvas(canvas_length, vocab, options_.seed + i);
    std::vector<std::string> parts;
    if (!run.is_reference) {
      FP4LAB_ASSIGN_OR_RETURN(parts, run.reference_attachment(sample_id));
      if (parts.empty()) {
        return Status::FailedPrecondition("denoiser_fidelity: the reference's logits of " + sample_id +
                                          " are not stored (the reference precision must run first)");
      }
      if (parts.size() != static_cast<size_t>(kSteps) * canvas.size()) {
        return Status::InvalidArgument("denoiser_fidelity: the reference stored " + std::to_string(parts.size()) +
                                       " rows of " + sample_id + "; " + std::to_string(kSteps) + " steps of a " +
                                       std::to_string(canvas.size()) + "-token canvas have " +
                                       std::to_string(kSteps * canvas.size()));
      }
    }
    std::array<std::vector<float>, kSteps> logits;
    FP4LAB_ASSIGN_OR_RETURN(logits[0], FirstStep(*denoiser, prompts[i], canvas));
    if (run.is_reference) {
      // Its step-1 rows as stored are the step-2 input of every model.
      for (size_t j = 0; j < canvas.size(); ++j) {
        parts.push_back(CompressReferenceRow(
            std::span<const float>(logits[0]).subspan(j * static_cast<size_t>(vocab), static_cast<size_t>(vocab)),
            canvas[j]));
      }
    }
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<ReferenceRow> stored1, StoredStep(parts, 0, canvas, vocab, sample_id));
    const std::vector<float> self_conditioning = SelfConditioning(stored1);
    logits[1].resize(logits[0].size());
    FP4LAB_RETURN_IF_ERROR(denoiser->Denoise(canvas, self_conditioning, logits[1]));
    const auto row_of = [&](int step, size_t j) {
      return std::span<const float>(logits[static_cast<size_t>(step)])
          .subspan(j * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
    };
    std::vector<ReferenceRow> stored2;
    if (run.is_reference) {
      for (size_t j = 0; j < canvas.size(); ++j) parts.push_back(CompressReferenceRow(row_of(1, j), canvas[j]));
    } else {
      FP4LAB_ASSIGN_OR_RETURN(stored2, StoredStep(parts, 1, canvas, vocab, sample_id));
    }
    std::array<StepFidelity, kSteps> steps;
    for (int s = 0; s < kSteps; ++s) {
      const std::vector<ReferenceRow>& stored = s == 0 ? stored1 : stored2;
      StepFidelity& out = steps[static_cast<size_t>(s)];
      for (size_t j = 0; j < canvas.size(); ++j) {
        // The reference compares its logits with themselves (exactly 0); a candidate with the stored rows.
        const PositionFidelity position = run.is_reference ? ComparePosition(row_of(s, j), row_of(s, j), canvas[j])
                                                           : ComparePosition(stored[j], row_of(s, j));
        out.kld.push_back(position.kld);
        out.kld_bound.push_back(position.kld_bound);
        out.same_top.push_back(position.same_top);
      }
    }
    SampleRecord sample = PromptSample(sample_id, prompts[i], canvas_length, steps);
    if (run.is_reference) sample.attachment = std::move(parts);
    if (run.log_samples) sample.prompt_text = run.model.Decode(prompts[i]);
    std::vector<SampleRecord> batch;
    batch.push_back(std::move(sample));
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(++done, static_cast<int64_t>(pending.size()));
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> DenoiserFidelityTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  if (samples.empty()) return Status::InvalidArgument("denoiser_fidelity: no samples to aggregate");
  FP4LAB_ASSIGN_OR_RETURN(const auto ordered, SamplesInIndexOrder(kTask, samples, kPromptPrefix));
  const std::string& precision = samples.front().precision;
  const int64_t prompts = static_cast<int64_t>(ordered.size());
  std::vector<MetricRecord> metrics;
  int64_t positions = 0;
  for (int s = 1; s <= kSteps; ++s) {
    std::vector<double> kld, bound, prompt_kld, prompt_same;
    int64_t same = 0;
    for (const SampleRecord* sample : ordered) {
      const std::string kld_key = StepKey(s, "kld"), bound_key = StepKey(s, "kld_bound");
      const std::string same_key = StepKey(s, "same_top");
      FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> k, SampleNumbers(kTask, *sample, kld_key.c_str()));
      FP4LAB_ASSIGN_OR_RETURN(const std::vector<double> b, SampleNumbers(kTask, *sample, bound_key.c_str()));
      FP4LAB_ASSIGN_OR_RETURN(const std::vector<bool> t, SampleFlags(kTask, *sample, same_key.c_str()));
      if (k.empty() || b.size() != k.size() || t.size() != k.size()) {
        return Status::InvalidArgument("denoiser_fidelity: sample '" + sample->sample_id + "': fields " + kld_key +
                                       ", " + bound_key + " and " + same_key + " must be non-empty and equally long");
      }
      kld.insert(kld.end(), k.begin(), k.end());
      bound.insert(bound.end(), b.begin(), b.end());
      const int64_t agree = std::count(t.begin(), t.end(), true);
      same += agree;
      FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(k));
      prompt_kld.push_back(mean);
      prompt_same.push_back(100.0 * static_cast<double>(agree) / static_cast<double>(t.size()));
    }
    positions = static_cast<int64_t>(kld.size());
    const std::string prefix = "step" + std::to_string(s) + "/";
    std::optional<double> kld_se, same_se;
    if (prompts >= 2) {
      FP4LAB_ASSIGN_OR_RETURN(kld_se, StandardError(prompt_kld));
      FP4LAB_ASSIGN_OR_RETURN(same_se, StandardError(prompt_same));
    }
    FP4LAB_ASSIGN_OR_RETURN(const double kld_mean, Mean(kld));
    FP4LAB_ASSIGN_OR_RETURN(const double kld_p99, Percentile(kld, 99.0));
    FP4LAB_ASSIGN_OR_RETURN(const double bound_mean, Mean(bound));
    const int64_t n = positions;
    metrics.push_back(MakeMetric(kTask, precision, prefix + "kld_mean", kld_mean, n, "nats", "worse", kld_se));
    metrics.push_back(MakeMetric(kTask, precision, prefix + "kld_p99", kld_p99, n, "nats", "worse"));
    const double kld_max = *std::max_element(kld.begin(), kld.end());
    metrics.push_back(MakeMetric(kTask, precision, prefix + "kld_max", kld_max, n, "nats", "worse"));
    metrics.push_back(MakeMetric(kTask, precision, prefix + "same_top_p",
                                 100.0 * static_cast<double>(same) / static_cast<double>(n), n, "%", "better",
                                 same_se));
    metrics.push_back(MakeMetric(kTask, precision, prefix + "kld_bound_mean", bound_mean, n, "nats", ""));
  }
  metrics.push_back(MakeMetric(kTask, precision, "positions", static_cast<double>(positions), prompts, "tokens", ""));
  return metrics;
}

}  // namespace fp4lab
