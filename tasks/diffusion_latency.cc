#include "tasks/diffusion_latency.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "engine/engine.h"
#include "engine/memory_model.h"
#include "results/stats.h"
#include "tasks/latency_memory.h"
#include "tasks/latency_metrics.h"
#include "tasks/denoiser_fidelity.h"  // DenoiserCanvas

namespace fp4lab {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kShapePrefix = "diffusion@p";
constexpr std::string_view kMemoryId = "diffusion_memory";

double Milliseconds(Clock::time_point begin, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - begin).count();
}

// Forwards every call to `inner`, timing each Commit and each step (DenoiseStep or Denoise) and noting when the
// first canvas was done. With a backend, each Commit is followed by Backend::Synchronize, so its time covers the
// encoder's device work (a step returns host outcomes or logits, so its own time already does).
class TimedDenoiser : public BlockDenoiser {
 public:
  TimedDenoiser(BlockDenoiser& inner, Backend* backend, Clock::time_point start)
      : inner_(inner), backend_(backend), start_(start) {}

  int64_t vocab_size() const override { return inner_.vocab_size(); }
  int canvas_length() const override { return inner_.canvas_length(); }
  int64_t max_context() const override { return inner_.max_context(); }
  void Reset() override { inner_.Reset(); }
  int64_t committed_tokens() const override { return inner_.committed_tokens(); }

  Status Commit(std::span<const int32_t> tokens) override {
    // The first Commit after a step commits the first canvas: it was done when that step returned.
    if (!first_canvas_ms_ && !step_ms_.empty()) first_canvas_ms_ = last_denoise_ms_;
    const Clock::time_point begin = Clock::now();
    Status status = inner_.Commit(tokens);
    if (status.ok() && backend_ != nullptr) status = backend_->Synchronize();
    commit_ms_.push_back(Milliseconds(begin, Clock::now()));
    commit_tokens_.push_back(static_cast<int64_t>(tokens.size()));
    return status;
  }

  Status Denoise(std::span<const int32_t> canvas, std::span<const float> self_conditioning,
                 std::span<float> logits) override {
    return TimeStep([&] { return inner_.Denoise(canvas, self_conditioning, logits); });
  }

  // The inner denoiser's own step (a model's keeps its logits on the device), not the default built on Denoise.
  Status DenoiseStep(std::span<const int32_t> canvas, const DenoiseStepSettings& settings,
                     std::span<CanvasRowOutcome> outcomes) override {
    return TimeStep([&] { return inner_.DenoiseStep(canvas, settings, outcomes); });
  }

  int64_t commits() const { return static_cast<int64_t>(commit_ms_.size()); }
  int64_t forwards() const { return static_cast<int64_t>(step_ms_.size()); }
  double first_canvas_ms() const { return first_canvas_ms_.value_or(last_denoise_ms_); }
  const std::vector<double>& commit_ms() const { return commit_ms_; }
  const std::vector<int64_t>& commit_tokens() const { return commit_tokens_; }
  const std::vector<double>& step_ms() const { return step_ms_; }

 private:
  // Runs one denoising step (its outcomes reach the host, so the device work is done when it returns) on the clock.
  template <typename Step>
  Status TimeStep(Step step) {
    const Clock::time_point begin = Clock::now();
    const Status status = step();
    const Clock::time_point end = Clock::now();
    step_ms_.push_back(Milliseconds(begin, end));
    last_denoise_ms_ = Milliseconds(start_, end);
    return status;
  }

  BlockDenoiser& inner_;
  Backend* backend_;
  Clock::time_point start_;
  std::vector<double> commit_ms_;       // per Commit call, in order (the prompt first)
  std::vector<int64_t> commit_tokens_;  // tokens of each Commit call
  std::vector<double> step_ms_;         // per step (DenoiseStep or Denoise call), in order
  double last_denoise_ms_ = 0.0;
  std::optional<double> first_canvas_ms_;
};

struct TimedGeneration {
  DiffusionGeneration generation;
  double seconds = 0.0;
  double ttfc_ms = 0.0;
  std::vector<double> commit_ms;       // TimedDenoiser's
  std::vector<int64_t> commit_tokens;
  std::vector<double> step_ms;
};

Result<TimedGeneration> TimeGeneration(const DiffusionSampler& sampler, BlockDenoiser& denoiser, Backend* backend,
                                       std::span<const TokenId> prompt, int max_new_tokens, uint64_t seed) {
  const Clock::time_point start = Clock::now();
  TimedDenoiser timed(denoiser, backend, start);
  TimedGeneration out;
  FP4LAB_ASSIGN_OR_RETURN(out.generation, sampler(timed, prompt, max_new_tokens, seed));
  out.seconds = Milliseconds(start, Clock::now()) / 1e3;
  out.ttfc_ms = timed.first_canvas_ms();
  out.commit_ms = timed.commit_ms();
  out.commit_tokens = timed.commit_tokens();
  out.step_ms = timed.step_ms();
  const DiffusionStats& stats = out.generation.stats;
  int64_t steps = 0;
  for (int s : stats.steps_per_canvas) steps += s;
  if (stats.decoder_forwards != timed.forwards() || steps != timed.forwards() ||
      stats.encoder_commits != timed.commits()) {
    return Status::Internal("latency: the diffusion sampler reported " + std::to_string(stats.decoder_forwards) +
                            " decoder forwards (steps per canvas summing to " + std::to_string(steps) + ") and " +
                            std::to_string(stats.encoder_commits) + " encoder commits, but made " +
                            std::to_string(timed.forwards()) + " denoising steps and " +
                            std::to_string(timed.commits()) + " Commit calls");
  }
  return out;
}

std::string ShapeId(int64_t prompt_tokens, int rep) {
  return std::string(kShapePrefix) + std::to_string(prompt_tokens) + "/rep" + std::to_string(rep);
}

Status BadSample(const SampleRecord& s, const std::string& what) {
  return Status::InvalidArgument("latency: sample '" + s.sample_id + "': " + what);
}

Result<double> Number(const SampleRecord& s, const char* key) {
  if (!s.data.is_object() || !s.data.contains(key) || !s.data[key].is_number()) {
    return BadSample(s, std::string("data field '") + key + "' must be a number");
  }
  return s.data[key].get<double>();
}

// The numbers of array field `key`, appended to `out`; nothing when the field is absent (samples stored before it
// existed). InvalidArgument when it is not an array of numbers.
Status AppendNumbers(const SampleRecord& s, const char* key, std::vector<double>& out) {
  if (!s.data.contains(key)) return Status::Ok();
  if (!s.data[key].is_array()) return BadSample(s, std::string("data field '") + key + "' must be an array of numbers");
  for (const auto& v : s.data[key]) {
    if (!v.is_number()) return BadSample(s, std::string("data field '") + key + "' must hold numbers only");
    out.push_back(v.get<double>());
  }
  return Status::Ok();
}

}  // namespace

bool IsDiffusionLatencySample(const std::string& sample_id) {
  return sample_id == kMemoryId || sample_id.rfind(kShapePrefix, 0) == 0;
}

Status RunDiffusionLatency(TaskRun& run, BlockDenoiser& denoiser, const LatencyOptions& options) {
  if (!run.diffusion_sampler) {
    return Status::FailedPrecondition("latency: " + run.model.Describe() +
                                      " is a block-diffusion model, timed through its sampler, and none was given "
                                      "(TaskRun::diffusion_sampler)");
  }
  const int64_t canvas = denoiser.canvas_length();
  const int64_t vocab = denoiser.vocab_size();
  // Every Commit must leave room for a canvas (BlockDenoiser::Commit): P + N + canvas <= max_context.
  const int64_t p = std::min<int64_t>(options.decode_prompt, denoiser.max_context() - canvas - 1);
  if (p < 1) {
    return Status::FailedPrecondition("latency: the model's context of " + std::to_string(denoiser.max_context()) +
                                      " tokens leaves no room for a prompt and a new token beside a canvas of " +
                                      std::to_string(canvas));
  }
  const int n = static_cast<int>(std::min<int64_t>(options.decode_tokens, denoiser.max_context() - canvas - p));
  std::vector<int> todo;
  for (int r = 0; r < options.repetitions; ++r) {
    if (run.should_run(ShapeId(p, r))) todo.push_back(r);
  }
  const bool wants_memory = run.should_run(std::string(kMemoryId));
  const int64_t total = static_cast<int64_t>(todo.size()) + (wants_memory ? 1 : 0);
  int64_t done = 0;
  auto emit = [&](SampleRecord sample) -> Status {
    std::vector<SampleRecord> batch;
    batch.push_back(std::move(sample));
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(++done, total);
    return Status::Ok();
  };

  const std::vector<TokenId> prompt = DenoiserCanvas(p, vocab, options.seed);
  Backend* backend = run.engine != nullptr ? &run.engine->backend() : nullptr;
  if (!todo.empty()) {
    for (int w = 0; w < options.warmup; ++w) {
      FP4LAB_RETURN_IF_ERROR(
          TimeGeneration(run.diffusion_sampler, denoiser, backend, prompt, n, options.seed).status());
    }
  }
  for (int r : todo) {
    FP4LAB_ASSIGN_OR_RETURN(const TimedGeneration g,
                            TimeGeneration(run.diffusion_sampler, denoiser, backend, prompt, n, options.seed));
    const DiffusionStats& stats = g.generation.stats;
    const int64_t generated = static_cast<int64_t>(g.generation.tokens.size());
    SampleRecord sample;
    sample.sample_id = ShapeId(p, r);
    sample.score = static_cast<double>(generated) / g.seconds;
    sample.outcome = "measured";
    sample.data = {{"prompt_tokens", p},
                   {"max_new_tokens", n},
                   {"seconds", g.seconds},
                   {"tokens_generated", generated},
                   {"canvas_length", canvas},
                   {"steps_per_canvas", stats.steps_per_canvas},
                   {"converged_canvases", stats.converged_canvases},
                   {"decoder_forwards", stats.decoder_forwards},
                   {"encoder_commits", stats.encoder_commits},
                   {"tokens_per_forward", stats.tokens_per_forward},
                   {"ttfc_ms", g.ttfc_ms},
                   {"canvases_at_max_steps",
                    static_cast<int64_t>(stats.steps_per_canvas.size()) - stats.converged_canvases},
                   {"commit_ms", g.commit_ms},
                   {"commit_tokens", g.commit_tokens},
                   {"step_ms", g.step_ms}};
    if (run.engine != nullptr && run.engine->diffusion_generation()) {
      sample.data["max_denoising_steps"] = run.engine->diffusion_generation()->max_denoising_steps;
    }
    FP4LAB_RETURN_IF_ERROR(emit(std::move(sample)));
  }
  if (wants_memory) {
    SampleRecord sample;
    sample.sample_id = std::string(kMemoryId);
    sample.outcome = "measured";
    sample.data = {{"self_conditioning_bytes", 2 * canvas * vocab * 4}, {"canvas_length", canvas}, {"vocab", vocab}};
    if (run.engine != nullptr) {
      Engine& engine = *run.engine;
      sample.data["weight_bytes"] = engine.model().WeightDeviceBytes();
      sample.data["predicted_weight_bytes"] =
          PredictWeightMemory(InventoryFromManifest(engine.blueprint().manifest(), engine.config().model_type),
                              engine.precision())
              .bytes;
      sample.data["kv_cache_bytes"] = engine.blueprint().KvCacheBytes(p + n);
      sample.data["kv_cache_positions"] = p + n;
      // What the generations above held at most (tasks/latency_memory.h: the scope peak_source names).
      const PeakMemory peak = MeasurePeakMemory(engine.backend());
      sample.data["peak_source"] = peak.source;
      if (peak.bytes) sample.data["peak_device_bytes"] = *peak.bytes;
    }
    FP4LAB_RETURN_IF_ERROR(emit(std::move(sample)));
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> AggregateDiffusionLatency(const std::vector<const SampleRecord*>& samples) {
  std::vector<double> tok_s, canvas_tok_s, ttfc_ms, steps, tokens_per_forward;
  std::vector<double> step_ms, prompt_commit_ms, canvas_commit_ms, canvases_at_max_steps;
  const SampleRecord* memory = nullptr;
  for (const SampleRecord* s : samples) {
    if (s->sample_id == kMemoryId) {
      memory = s;
      continue;
    }
    if (!IsDiffusionLatencySample(s->sample_id) || s->sample_id.find("/rep") == std::string::npos) {
      return BadSample(*s, "unknown sample id (expected diffusion@p<P>/rep<r> or diffusion_memory)");
    }
    FP4LAB_ASSIGN_OR_RETURN(const double seconds, Number(*s, "seconds"));
    FP4LAB_ASSIGN_OR_RETURN(const double generated, Number(*s, "tokens_generated"));
    FP4LAB_ASSIGN_OR_RETURN(const double decoder_forwards, Number(*s, "decoder_forwards"));
    FP4LAB_ASSIGN_OR_RETURN(const double canvas, Number(*s, "canvas_length"));
    FP4LAB_ASSIGN_OR_RETURN(const double ttfc, Number(*s, "ttfc_ms"));
    FP4LAB_ASSIGN_OR_RETURN(const double per_forward, Number(*s, "tokens_per_forward"));
    if (!(seconds > 0.0) || !(decoder_forwards > 0.0)) {
      return BadSample(*s, "seconds and decoder_forwards must be positive");
    }
    if (!s->data.contains("steps_per_canvas")) return BadSample(*s, "data field 'steps_per_canvas' is missing");
    FP4LAB_RETURN_IF_ERROR(AppendNumbers(*s, "steps_per_canvas", steps));
    FP4LAB_RETURN_IF_ERROR(AppendNumbers(*s, "step_ms", step_ms));
    std::vector<double> commits;
    FP4LAB_RETURN_IF_ERROR(AppendNumbers(*s, "commit_ms", commits));
    if (!commits.empty()) prompt_commit_ms.push_back(commits.front());
    if (commits.size() > 1) canvas_commit_ms.insert(canvas_commit_ms.end(), commits.begin() + 1, commits.end());
    if (s->data.contains("canvases_at_max_steps")) {
      FP4LAB_ASSIGN_OR_RETURN(const double at_max, Number(*s, "canvases_at_max_steps"));
      canvases_at_max_steps.push_back(at_max);
    }
    tok_s.push_back(generated / seconds);
    canvas_tok_s.push_back(decoder_forwards * canvas / seconds);
    ttfc_ms.push_back(ttfc);
    tokens_per_forward.push_back(per_forward);
  }
  std::vector<MetricRecord> metrics;
  if (!tok_s.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord a, LatencyMeanMetric("diffusion_tok_s", tok_s, "tok/s", "better"));
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord b,
                            LatencyMeanMetric("diffusion_canvas_tok_s", canvas_tok_s, "tok/s", "better"));
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord c, LatencyMeanMetric("ttfc_ms", ttfc_ms, "ms", "worse"));
    metrics.insert(metrics.end(), {a, b, c});
    if (!steps.empty()) {
      FP4LAB_ASSIGN_OR_RETURN(MetricRecord d, LatencyMeanMetric("steps_per_canvas", steps, "steps", ""));
      metrics.push_back(std::move(d));
    }
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord e,
                            LatencyMeanMetric("tokens_per_forward", tokens_per_forward, "tokens", "better"));
    metrics.push_back(std::move(e));
    if (!canvases_at_max_steps.empty()) {
      FP4LAB_ASSIGN_OR_RETURN(MetricRecord f,
                              LatencyMeanMetric("canvases_at_max_steps", canvases_at_max_steps, "canvases", ""));
      metrics.push_back(std::move(f));
    }
    if (!step_ms.empty()) {
      for (const auto& [name, q] : {std::pair{"step_ms_p50", 50.0}, std::pair{"step_ms_p90", 90.0}}) {
        FP4LAB_ASSIGN_OR_RETURN(const double value, Percentile(step_ms, q));
        metrics.push_back(LatencyMetric(name, value, static_cast<int64_t>(step_ms.size()), "ms", "worse"));
      }
    }
    for (const auto& [name, values] : {std::pair{"prompt_commit_ms", &prompt_commit_ms},
                                       std::pair{"canvas_commit_ms", &canvas_commit_ms}}) {
      if (values->empty()) continue;
      FP4LAB_ASSIGN_OR_RETURN(MetricRecord m, LatencyMeanMetric(name, *values, "ms", "worse"));
      metrics.push_back(std::move(m));
    }
  }
  if (memory != nullptr) {
    for (const char* key :
         {"self_conditioning_bytes", "weight_bytes", "predicted_weight_bytes", "kv_cache_bytes", "peak_device_bytes"}) {
      if (!memory->data.contains(key) && std::string(key) != "self_conditioning_bytes") continue;
      FP4LAB_ASSIGN_OR_RETURN(const double bytes, Number(*memory, key));
      metrics.push_back(LatencyMetric(key, bytes, 1, "bytes", "worse"));
    }
  }
  return metrics;
}

}  // namespace fp4lab
