// The latency and memory task ("latency", version 1): prefill throughput, batch-1 decode throughput, time to first
// token and inter-token latency of an fp4lab Engine on its backend, plus weight / KV-cache / workspace / peak
// memory with the analytic weight prediction beside the measurement. `fp4lab bench` and `fp4lab run --tasks
// latency` run it.
//
// What is timed (host steady_clock; Backend::Download and Backend::Synchronize wait for the device, so the clock
// covers the device work): tokenization and sampling are EXCLUDED. The inputs are fixed pseudo-random token ids
// (SplitMix64 of `seed`, modulo the vocabulary) and decode feeds the next id of that stream instead of sampling.
//   prefill @ L  : Model::Forward over L tokens into an empty KV cache + Backend::Synchronize. Forward computes the
//                  logits of all L positions (the model surface has no last-row-only head); they stay on the
//                  device.
//   TTFT         : Model::Forward over the P-token decode prompt + Backend::Download of its logits [P, V] (the
//                  backend downloads whole tensors).
//   decode step  : Model::Forward of 1 token at the next position + Backend::Download of its logits [1, V].
// Buffers (KV cache, logits, host copies) are allocated before the clock starts; buffers Model::Forward allocates
// internally are part of what is timed. Each shape runs `warmup` untimed times, then `repetitions` timed times.
// Prompt lengths are clipped to the model's context (duplicates dropped); P = min(decode_prompt, context - 1) and
// the decode length N = min(decode_tokens, context - P).
// Batched decode (batch > 1) needs a batched decode path, which Model/Backend do not have (Model::Forward runs one
// sequence): such batches are recorded as not measured, with the reason and the KV-cache bytes they would need.
//
// Bad input: before anything runs, every shape is checked against the memory the backend can still allocate
// (tasks/latency_memory.h): one that does not fit fails with InvalidArgument naming the bytes it needs, their
// parts, and the bytes available.
//
// Samples (ids; score; data):
//   "prefill@<L>/rep<r>"  tok/s; {tokens, seconds}
//   "decode@b1/rep<r>"    tok/s = N / sum(itl); {prompt_tokens, decode_tokens, ttft_ms, itl_ms: [N values]}
//   "decode@b<B>"         outcome "not_measured"; {batch, reason, kv_cache_bytes_needed}
//   "memory"              {weight_bytes, weight_bytes_source, weight_bytes_by_kind, predicted_weight_bytes,
//                          predicted_by_part, kv_cache_bytes, kv_cache_positions, kv_cache_bytes_per_token,
//                          workspace_bytes, workspace_tokens, available_bytes, available_source,
//                          peak_device_bytes (when measured), peak_source}
// Metrics (unit, higher_is), mean over repetitions with stderr = stddev / sqrt(n):
//   prefill_tok_s@<L> ("tok/s", better), decode_tok_s@b1 ("tok/s", better), ttft_ms ("ms", worse),
//   itl_ms_p50 / itl_ms_p90 / itl_ms_p99 over every timed decode step (harness/results/stats.h Percentile: linear
//   interpolation between closest ranks; "ms", worse), weight_bytes, kv_cache_bytes, peak_device_bytes ("bytes",
//   worse), predicted_weight_bytes ("bytes", neutral).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace fp4lab {

struct LatencyOptions {
  std::vector<int> prompt_lengths = {128, 512, 2048};
  std::vector<int> batches = {1, 8, 32};
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
  std::string Version() const override { return "1"; }
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
