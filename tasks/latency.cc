// LatencyTask: creation, configuration and the measurements (Run). Aggregation: tasks/latency_aggregate.cc.
#include "tasks/latency.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/engine.h"
#include "engine/host_memory.h"
#include "engine/memory_model.h"
#include "engine/role_memory.h"
#include "tasks/diffusion_latency.h"
#include "tasks/latency_memory.h"

namespace fp4lab {

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kTimed[] =
    "prefill: Model::Forward + Backend::Synchronize (logits stay on the device); TTFT: Model::Forward over "
    "sequence 0's decode prompt + Backend::Download of its logits; decode step (ITL): Model::DecodeStep of one "
    "token per sequence of the batch + Backend::Download of the batch's logits; host steady_clock";
constexpr char kExcluded[] =
    "tokenization and sampling: inputs are fixed pseudo-random token ids and decode feeds the next id of each "
    "sequence's stream; the prompts of sequences 1 .. B-1; buffer allocation outside Model::Forward and "
    "Model::DecodeStep";

double Seconds(Clock::time_point begin, Clock::time_point end) {
  return std::chrono::duration<double>(end - begin).count();
}

std::string Gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

// Output i of SplitMix64 seeded with `seed`, modulo the vocabulary: the token ids every measurement feeds.
std::vector<int32_t> TokenIds(int64_t count, int vocab, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    uint64_t z = seed + static_cast<uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    ids[static_cast<size_t>(i)] = static_cast<int32_t>((z ^ (z >> 31)) % static_cast<uint64_t>(vocab));
  }
  return ids;
}

// The shapes one Run measures, after clipping to the model's context.
struct Shapes {
  std::vector<int64_t> prefill_lengths;
  std::vector<int> batches;   // options.batches without duplicates, in the order given
  int64_t decode_prompt = 0;  // P
  int64_t decode_tokens = 0;  // N
};

Shapes ClipShapes(const LatencyOptions& o, int64_t context) {
  Shapes s;
  for (int length : o.prompt_lengths) {
    const int64_t clipped = std::min<int64_t>(length, context);
    if (std::find(s.prefill_lengths.begin(), s.prefill_lengths.end(), clipped) == s.prefill_lengths.end()) {
      s.prefill_lengths.push_back(clipped);
    }
  }
  for (int batch : o.batches) {
    if (std::find(s.batches.begin(), s.batches.end(), batch) == s.batches.end()) s.batches.push_back(batch);
  }
  s.decode_prompt = std::min<int64_t>(o.decode_prompt, context - 1);
  s.decode_tokens = std::min<int64_t>(o.decode_tokens, context - s.decode_prompt);
  return s;
}

// InvalidArgument when `device_bytes` (on the backend) plus `host_bytes` (host buffers) do not fit.
Status CheckFits(const std::string& what, const std::string& parts, int64_t device_bytes, int64_t host_bytes,
                 const MemoryBudget& budget, const std::string& device, const std::string& flag) {
  const int64_t on_budget = budget.host_is_device ? device_bytes + host_bytes : device_bytes;
  if (on_budget > budget.available_bytes) {
    return Status::InvalidArgument("latency: " + what + " needs " + std::to_string(on_budget) + " bytes (" +
                                   Gib(on_budget) + ": " + parts + ") on " + device + ", but only " +
                                   std::to_string(budget.available_bytes) + " bytes (" +
                                   Gib(budget.available_bytes) + ") are available (" + budget.source +
                                   "); lower " + flag);
  }
  if (!budget.host_is_device && host_bytes > 0) {
    FP4LAB_ASSIGN_OR_RETURN(const int64_t host_available, HostAvailableMemoryBytes());
    if (host_bytes > host_available) {
      return Status::InvalidArgument("latency: " + what + " needs " + std::to_string(host_bytes) + " bytes (" +
                                     Gib(host_bytes) + ") of host memory for the downloaded logits, but only " +
                                     std::to_string(host_available) + " are available; lower " + flag);
    }
  }
  return Status::Ok();
}

// One timed prefill: Forward over `tokens` into an emptied one-sequence cache, then Synchronize.
Result<double> TimePrefill(Model& model, Backend& backend, KvCache& cache, DeviceTensor& logits,
                           std::span<const int32_t> tokens) {
  cache.Clear();
  FP4LAB_RETURN_IF_ERROR(backend.Synchronize());
  const Clock::time_point begin = Clock::now();
  FP4LAB_RETURN_IF_ERROR(model.Forward(tokens, cache, 0, logits));
  FP4LAB_RETURN_IF_ERROR(backend.Synchronize());
  return Seconds(begin, Clock::now());
}

struct DecodeTiming {
  double ttft_ms = 0.0;
  std::vector<double> itl_ms;
};

// Buffers of one decode run at batch B, allocated once before any clock starts.
struct DecodeBuffers {
  std::unique_ptr<KvCache> cache;               // B sequences of P + N positions
  std::unique_ptr<DeviceTensor> prompt_logits;  // [P, V]
  std::unique_ptr<DeviceTensor> step_logits;    // [B, V]
  std::vector<float> host_prompt;               // P * V
  std::vector<float> host_step;                 // B * V
};

// The token ids of one decode run at batch B (see tasks/latency.h): prompts[s] is sequence s's P-token prompt and
// steps [N, B] row-major holds step i's token of sequence s at i * B + s.
struct DecodeInputs {
  std::vector<std::span<const int32_t>> prompts;
  std::vector<int32_t> steps;
};

// REQUIRES ids.size() >= batch * (p + n).
DecodeInputs MakeDecodeInputs(std::span<const int32_t> ids, int batch, int64_t p, int64_t n) {
  DecodeInputs in;
  in.steps.resize(static_cast<size_t>(n * batch));
  for (int s = 0; s < batch; ++s) {
    const std::span<const int32_t> stream = ids.subspan(static_cast<size_t>(s * (p + n)), static_cast<size_t>(p + n));
    in.prompts.push_back(stream.first(static_cast<size_t>(p)));
    for (int64_t i = 0; i < n; ++i) in.steps[static_cast<size_t>(i * batch + s)] = stream[static_cast<size_t>(p + i)];
  }
  return in;
}

// One timed decode run: sequence 0's prompt (TTFT), the other prompts untimed, then one DecodeStep of the whole
// batch per row of in.steps (inter-token latencies).
Result<DecodeTiming> TimeDecode(Model& model, Backend& backend, DecodeBuffers& b, const DecodeInputs& in) {
  const size_t batch = in.prompts.size();
  DecodeTiming timing;
  b.cache->Clear();
  FP4LAB_RETURN_IF_ERROR(backend.Synchronize());
  Clock::time_point begin = Clock::now();
  FP4LAB_RETURN_IF_ERROR(model.Forward(in.prompts[0], *b.cache, 0, *b.prompt_logits));
  FP4LAB_RETURN_IF_ERROR(backend.Download(*b.prompt_logits, b.host_prompt));
  Clock::time_point end = Clock::now();
  timing.ttft_ms = 1e3 * Seconds(begin, end);
  for (size_t s = 1; s < batch; ++s) {
    FP4LAB_RETURN_IF_ERROR(model.Forward(in.prompts[s], *b.cache, static_cast<int>(s), *b.prompt_logits));
  }
  FP4LAB_RETURN_IF_ERROR(backend.Synchronize());  // the untimed prompts stay out of the first step's time
  const std::span<const int32_t> steps(in.steps);
  timing.itl_ms.reserve(steps.size() / batch);
  for (size_t offset = 0; offset < steps.size(); offset += batch) {
    begin = Clock::now();
    FP4LAB_RETURN_IF_ERROR(model.DecodeStep(steps.subspan(offset, batch), *b.cache, *b.step_logits));
    FP4LAB_RETURN_IF_ERROR(backend.Download(*b.step_logits, b.host_step));
    end = Clock::now();
    timing.itl_ms.push_back(1e3 * Seconds(begin, end));
  }
  return timing;
}

std::string RepId(const std::string& shape, int rep) { return shape + "/rep" + std::to_string(rep); }

std::string DecodeShape(int batch) { return "decode@b" + std::to_string(batch); }

}  // namespace

Result<std::unique_ptr<LatencyTask>> LatencyTask::Create(LatencyOptions options) {
  auto positive = [](const std::vector<int>& values) {
    return !values.empty() && std::all_of(values.begin(), values.end(), [](int v) { return v >= 1; });
  };
  if (!positive(options.prompt_lengths)) {
    return Status::InvalidArgument("latency: prompt_lengths must be a non-empty list of lengths >= 1");
  }
  if (!positive(options.batches)) return Status::InvalidArgument("latency: batches must be a non-empty list >= 1");
  if (options.decode_tokens < 1) return Status::InvalidArgument("latency: decode_tokens must be >= 1");
  if (options.decode_prompt < 1) return Status::InvalidArgument("latency: decode_prompt must be >= 1");
  if (options.repetitions < 1) return Status::InvalidArgument("latency: repetitions must be >= 1");
  if (options.warmup < 0) return Status::InvalidArgument("latency: warmup must be >= 0");
  return std::unique_ptr<LatencyTask>(new LatencyTask(std::move(options)));
}

nlohmann::json LatencyTask::Config() const {
  return {{"prompt_lengths", options_.prompt_lengths},
          {"batches", options_.batches},
          {"decode_tokens", options_.decode_tokens},
          {"decode_prompt", options_.decode_prompt},
          {"repetitions", options_.repetitions},
          {"warmup", options_.warmup},
          {"seed", options_.seed},
          {"timed", kTimed},
          {"excluded", kExcluded}};
}

Status LatencyTask::Run(TaskRun& run) {
  if (BlockDenoiser* denoiser = run.model.AsBlockDenoiser()) return RunDiffusionLatency(run, *denoiser, options_);
  Engine* engine = run.engine;
  if (engine == nullptr) {
    return Status::FailedPrecondition("latency: measures an fp4lab Engine (Model::Forward on its backend); got '" +
                                      run.model.Describe() + "' without one (TaskRun::engine)");
  }
  Model& model = engine->model();
  Backend& backend = engine->backend();
  const ModelConfig& config = engine->config();
  const ModelBlueprint& blueprint = engine->blueprint();
  const int64_t context = engine->MaxContext();
  if (context < 2) {
    return Status::FailedPrecondition("latency: the model's context of " + std::to_string(context) +
                                      " tokens leaves no room for a decode step");
  }
  const Shapes shapes = ClipShapes(options_, context);
  const int64_t vocab = config.vocab_size;
  const int64_t p = shapes.decode_prompt, n = shapes.decode_tokens;

  // What this call will run (shard and --resume filter).
  std::vector<int64_t> prefill_todo;
  int64_t total = 0;
  for (int64_t length : shapes.prefill_lengths) {
    const std::string shape = "prefill@" + std::to_string(length);
    int64_t reps = 0;
    for (int r = 0; r < options_.repetitions; ++r) reps += run.should_run(RepId(shape, r));
    if (reps > 0) prefill_todo.push_back(length);
    total += reps;
  }
  std::vector<int> decode_todo;
  for (int batch : shapes.batches) {
    int64_t reps = 0;
    for (int r = 0; r < options_.repetitions; ++r) reps += run.should_run(RepId(DecodeShape(batch), r));
    if (reps > 0) decode_todo.push_back(batch);
    total += reps;
  }
  const bool wants_memory = run.should_run("memory");
  total += wants_memory ? 1 : 0;
  if (total == 0) return Status::Ok();

  // Every shape must fit before anything runs.
  FP4LAB_ASSIGN_OR_RETURN(const MemoryBudget budget, AvailableMemory(backend, model.WeightDeviceBytes()));
  for (int64_t length : prefill_todo) {
    FP4LAB_RETURN_IF_ERROR(CheckFits("prefill of " + std::to_string(length) + " tokens",
                                     "KV cache " + std::to_string(blueprint.KvCacheBytes(length)) +
                                         " + activations and logits " +
                                         std::to_string(ForwardWorkspaceBytes(blueprint, length)),
                                     blueprint.KvCacheBytes(length) + ForwardWorkspaceBytes(blueprint, length), 0, budget,
                                     backend.Name(), "--prompt-lengths"));
  }
  for (int batch : decode_todo) {
    const int64_t kv = blueprint.KvCacheBytes(batch * (p + n));
    const int64_t prompt_workspace = ForwardWorkspaceBytes(blueprint, p);
    const int64_t step_workspace = ForwardWorkspaceBytes(blueprint, batch);
    const int64_t host = (p + batch) * vocab * 4;
    FP4LAB_RETURN_IF_ERROR(CheckFits(
        "decode at batch " + std::to_string(batch) + " (" + std::to_string(n) + " tokens after a " +
            std::to_string(p) + "-token prompt per sequence)",
        "KV cache " + std::to_string(kv) + " + prompt activations and logits " + std::to_string(prompt_workspace) +
            " + step activations and logits " + std::to_string(step_workspace) + " + host logits " +
            std::to_string(host),
        kv + prompt_workspace + step_workspace, host, budget, backend.Name(), "--batches or --decode-tokens"));
  }

  int64_t done = 0;
  auto emit = [&](SampleRecord sample) -> Status {
    std::vector<SampleRecord> batch;
    batch.push_back(std::move(sample));
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(++done, total);
    return Status::Ok();
  };

  int64_t longest = *std::max_element(shapes.prefill_lengths.begin(), shapes.prefill_lengths.end());
  for (int batch : decode_todo) longest = std::max(longest, batch * (p + n));
  const std::vector<int32_t> ids = TokenIds(longest, config.vocab_size, options_.seed);
  for (int64_t length : prefill_todo) {
    const std::string shape = "prefill@" + std::to_string(length);
    const std::span<const int32_t> tokens(ids.data(), static_cast<size_t>(length));
    FP4LAB_ASSIGN_OR_RETURN(auto cache, model.NewCache(length, 1));
    FP4LAB_ASSIGN_OR_RETURN(auto logits, backend.Allocate(length, vocab));
    for (int w = 0; w < options_.warmup; ++w) {
      FP4LAB_RETURN_IF_ERROR(TimePrefill(model, backend, *cache, *logits, tokens));
    }
    for (int r = 0; r < options_.repetitions; ++r) {
      if (!run.should_run(RepId(shape, r))) continue;
      FP4LAB_ASSIGN_OR_RETURN(const double seconds, TimePrefill(model, backend, *cache, *logits, tokens));
      SampleRecord sample;
      sample.sample_id = RepId(shape, r);
      sample.score = static_cast<double>(length) / seconds;
      sample.outcome = "measured";
      sample.data = {{"tokens", length}, {"seconds", seconds}};
      FP4LAB_RETURN_IF_ERROR(emit(std::move(sample)));
    }
  }

  for (int batch : decode_todo) {
    const std::string shape = DecodeShape(batch);
    const DecodeInputs inputs = MakeDecodeInputs(ids, batch, p, n);
    DecodeBuffers buffers;
    FP4LAB_ASSIGN_OR_RETURN(buffers.cache, model.NewCache(p + n, batch));
    FP4LAB_ASSIGN_OR_RETURN(buffers.prompt_logits, backend.Allocate(p, vocab));
    FP4LAB_ASSIGN_OR_RETURN(buffers.step_logits, backend.Allocate(batch, vocab));
    buffers.host_prompt.resize(static_cast<size_t>(p * vocab));
    buffers.host_step.resize(static_cast<size_t>(batch * vocab));
    for (int w = 0; w < options_.warmup; ++w) {
      FP4LAB_RETURN_IF_ERROR(TimeDecode(model, backend, buffers, inputs));
    }
    for (int r = 0; r < options_.repetitions; ++r) {
      if (!run.should_run(RepId(shape, r))) continue;
      FP4LAB_ASSIGN_OR_RETURN(const DecodeTiming timing, TimeDecode(model, backend, buffers, inputs));
      double total_ms = 0.0;
      for (double ms : timing.itl_ms) total_ms += ms;
      SampleRecord sample;
      sample.sample_id = RepId(shape, r);
      sample.score = 1e3 * static_cast<double>(batch * n) / total_ms;
      sample.outcome = "measured";
      sample.data = {{"batch", batch},           {"prompt_tokens", p},          {"decode_tokens", n},
                     {"ttft_ms", timing.ttft_ms}, {"itl_ms", timing.itl_ms}};
      FP4LAB_RETURN_IF_ERROR(emit(std::move(sample)));
    }
  }

  if (wants_memory) {
    const MemoryPrediction prediction =
        PredictWeightMemory(InventoryFromManifest(blueprint.manifest(), config.model_type), engine->precision());
    nlohmann::json by_part = nlohmann::json::object();
    for (const PartMemory& part : prediction.parts) by_part[part.part] = part.bytes;
    // The largest single pass: a prefill, the decode prompt or a decode step of the largest batch.
    const int64_t workspace_tokens =
        std::max({p, int64_t{*std::max_element(shapes.batches.begin(), shapes.batches.end())},
                  *std::max_element(shapes.prefill_lengths.begin(), shapes.prefill_lengths.end())});
    nlohmann::json kv_by_batch = nlohmann::json::object();
    for (int batch : shapes.batches) kv_by_batch[std::to_string(batch)] = blueprint.KvCacheBytes(batch * (p + n));
    const PeakMemory peak = MeasurePeakMemory(backend);
    SampleRecord sample;
    sample.sample_id = "memory";
    sample.outcome = "measured";
    sample.data = {
        {"weight_bytes", model.WeightDeviceBytes()},
        {"weight_bytes_source", "Model::WeightDeviceBytes on " + backend.Name() +
                                    " (the backend's weight buffers; the CPU reference reports the stored form and "
                                    "computes on an f32 copy)"},
        {"weight_bytes_by_kind", WeightBytesByRole(blueprint.manifest(), engine->layer_map())},
        {"predicted_weight_bytes", prediction.bytes},
        {"predicted_by_part", by_part},
        {"kv_cache_bytes", blueprint.KvCacheBytes(p + n)},
        {"kv_cache_positions", p + n},
        {"kv_cache_bytes_per_token", blueprint.KvCacheBytes(1)},
        // The cache as a deployment stores it in this precision's format (the engine's buffers above are f32).
        {"kv_cache_format", KvCacheFormatName(engine->kv_cache_format())},
        {"kv_cache_format_bytes_per_token", KvCacheBytesPerToken(blueprint.KvWidths(), engine->kv_cache_format())},
        {"kv_cache_bytes_by_batch", kv_by_batch},
        {"workspace_bytes", ForwardWorkspaceBytes(blueprint, workspace_tokens)},
        {"workspace_tokens", workspace_tokens},
        {"available_bytes", budget.available_bytes},
        {"available_source", budget.source},
        {"peak_source", peak.source}};
    if (peak.bytes) sample.data["peak_device_bytes"] = *peak.bytes;
    FP4LAB_RETURN_IF_ERROR(emit(std::move(sample)));
  }
  return Status::Ok();
}

}  // namespace fp4lab
