// The latency and memory task ("latency", version 2): prefill throughput, decode throughput at every batch size,
// time to first token and inter-token latency of an fp4lab Engine on its backend, plus weight / KV-cache /
// workspace / peak memory with the analytic weight prediction beside the measurement. `fp4lab bench` and
// `fp4lab run --tasks latency` run it.
//
// What is timed (host steady_clock; Backend::Download and Backend::Synchronize wait for the device, so the clock
// covers the device work): tokenization and sampling are EXCLUDED. The inputs are fixed pseudo-random token ids:
// one SplitMix64 stream of `seed`, modulo the vocabulary. Prefill reads its first L ids; in a decode run, sequence
// s reads ids [s * (P + N), (s + 1) * (P + N)) of it (its P prompt ids, then the N ids it is fed instead of
// sampling), so every sequence of a batch sees different tokens and batch 1 reads what version 1 did.
//   prefill @ L  : Model::Forward over L tokens into an empty KV cache + Backend::Synchronize. Forward computes the
//                  logits of all L positions (the model surface has no last-row-only head); they stay on the
//                  device.
//   decode @ B   : a KV cache of B sequences of P + N positions (Model::NewCache), emptied (KvCache::Clear);
//     TTFT       : Model::Forward over sequence 0's P-token prompt + Backend::Download of its logits [P, V] (the
//                  backend downloads whole tensors).
//     (untimed)  : the prompts of sequences 1 .. B-1 (Model::Forward each), then Backend::Synchronize.
//     ITL        : per step, Model::DecodeStep of B tokens (one per sequence; on CUDA a replayed CUDA graph once
//                  recorded) + Backend::Download of its logits [B, V]. Batch 1 runs the same path.
// Buffers (KV cache, logits, host copies) are allocated before the clock starts; buffers Model::Forward and
// Model::DecodeStep allocate internally are part of what is timed. Each shape runs `warmup` untimed times, then
// `repetitions` timed times. Prompt lengths are clipped to the model's context (duplicates dropped), as are
// duplicate batches; P = min(decode_prompt, context - 1) and N = min(decode_tokens, context - P).
//
// Bad input: before anything runs, every shape is checked against the memory the backend can still allocate
// (tasks/latency_memory.h): one that does not fit fails with InvalidArgument naming the bytes it needs, their
// parts, and the bytes available. Decode at batch B needs the KV cache of B * (P + N) positions, the activations
// and logits of the P-token prefill and of a B-row step, and host logits [P + B, V].
//
// Samples (ids; score; data):
//   "prefill@<L>/rep<r>"  tok/s; {tokens, seconds}
//   "decode@b<B>/rep<r>"  tok/s = B * N / sum(itl); {batch, prompt_tokens, decode_tokens, ttft_ms,
//                         itl_ms: [N values, each one step of all B sequences]}
//   "memory"              {weight_bytes, weight_bytes_source, weight_bytes_by_kind ({role: {scheme: bytes}},
//                          tasks/latency_memory.h WeightBytesByRole), predicted_weight_bytes,
//                          predicted_by_part, kv_cache_bytes (one sequence), kv_cache_positions,
//                          kv_cache_bytes_per_token, kv_cache_bytes_by_batch {"<B>": bytes}, workspace_bytes,
//                          workspace_tokens, available_bytes, available_source, peak_device_bytes (when
//                          measured), peak_source}
// On a block-diffusion model (LanguageModel::AsBlockDenoiser() not null) Run times generation through the sampler
// instead and stores other samples and metrics (tasks/diffusion_latency.h); Aggregate reads both kinds.
// Version 1 stored batches above 1 as "decode@b<B>" with outcome "not_measured"; Aggregate skips such rows.
// Metrics (unit, higher_is), mean over repetitions with stderr = stddev / sqrt(n); per batch B, with the suffix
// "@b<B>" on the latency names for B > 1 (batch 1 keeps the unsuffixed names):
//   prefill_tok_s@<L> ("tok/s", better), decode_tok_s@b<B> ("tok/s", better), ttft_ms[@b<B>] ("ms", worse),
//   itl_ms_p50 / itl_ms_p90 / itl_ms_p99[@b<B>] over every timed decode step of that batch
//   (results/stats.h Percentile: linear interpolation between closest ranks; "ms", worse), weight_bytes,
//   kv_cache_bytes (one sequence), peak_device_bytes ("bytes", worse), predicted_weight_bytes ("bytes", neutral).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace fp4lab {

struct LatencyOptions {
  std::vector<int> prompt_lengths = {128, 512, 2048};
  std::vector<int> batches = {1, 8, 32};  // B: sequences decoded together by Model::DecodeStep
  int decode_tokens = 128;  // N
  int decode_prompt = 128;  // P: the prompt before the decode steps (its prefill is the TTFT)
  int repetitions = 5;
  int warmup = 1;
  uint64_t seed = 0;  // of the token ids fed
};

class LatencyTask : public Task {
 public:
  // InvalidArgument for empty lists, a length, batch, decode_tokens, decode_prompt or repetitions below 1, or a
  // negative warmup.
  static Result<std::unique_ptr<LatencyTask>> Create(LatencyOptions options);

  std::string Name() const override { return "latency"; }
  std::string Version() const override { return "2"; }
  // The options plus "timed" and "excluded" (what the clock covers and what it leaves out).
  nlohmann::json Config() const override;
  std::string DatasetSha256() const override { return ""; }

  // FailedPrecondition when run.model is not an Engine or its context is below 2 tokens; InvalidArgument when a
  // shape does not fit in memory; model, backend and emit errors.
  Status Run(TaskRun& run) override;
  // InvalidArgument for unknown sample ids or missing/mistyped fields. Metrics of shapes without samples are
  // absent.
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;

  const LatencyOptions& options() const { return options_; }

 private:
  explicit LatencyTask(LatencyOptions options) : options_(std::move(options)) {}
  LatencyOptions options_;
};

}  // namespace fp4lab
