// What `fp4lab bench` prints: the latency task's stored results of one run, read back from the result store and
// laid out like llama-bench (one row per precision x test, "t/s" as mean ± stddev over repetitions), followed by
// TTFT / ITL percentiles and KV cache per precision x decode batch, and memory per precision. The same shape on
// every device: the CPU fills it the same way a GPU does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "results/result_store.h"

namespace fp4lab {

// One throughput row: "pp<L>" (prefill of L tokens), "tg<N>" (N decode steps at batch 1), "tg<N> b<B>" (N decode
// steps of B sequences at once; t/s counts the tokens of every sequence, B * N per repetition) or, on a
// block-diffusion model, "dg<N>" (block-diffusion generation of up to N new tokens at batch 1, whole canvases, every
// denoising step timed; t/s = generated tokens / generation time).
struct BenchRow {
  std::string precision;
  std::string test;
  int64_t batch = 0;             // decode rows: B; 0 for prefill rows
  double tok_s = 0.0;            // mean over repetitions
  std::optional<double> stddev;  // sample standard deviation over repetitions (n >= 2)
  int64_t repetitions = 0;
};

// Latency of one precision at one decode batch (absent figures stay nullopt).
struct BenchBatch {
  int64_t batch = 0;
  std::optional<double> ttft_ms, itl_p50_ms, itl_p90_ms, itl_p99_ms;
  std::optional<double> kv_cache_bytes;  // B sequences of kv_cache_positions positions
};

// Block-diffusion generation of one precision (tasks/diffusion_latency.h; absent figures stay nullopt).
struct BenchDiffusion {
  int64_t prompt_tokens = 0;
  int64_t max_new_tokens = 0;
  int64_t canvas_length = 0;
  int64_t canvases = 0;                      // canvases per generation (the first repetition's)
  std::optional<int64_t> max_denoising_steps;  // the sampler's cap on steps per canvas, when stored
  std::optional<double> steps_per_canvas;    // decoder forwards per canvas actually taken, mean
  std::optional<double> canvases_at_max_steps, step_p50_ms, step_p90_ms, prompt_commit_ms, canvas_commit_ms,
      ttfc_ms, tokens_per_forward;
};

// Latency and memory of one precision (absent figures stay nullopt).
struct BenchPrecision {
  std::string precision;
  std::string path;                 // the linear path that ran: "reference", "native", "emulated", "weight-only"
  std::vector<BenchBatch> batches;  // ascending
  std::optional<BenchDiffusion> diffusion;  // set on a block-diffusion model
  std::optional<double> weight_bytes, predicted_weight_bytes, workspace_bytes, peak_bytes;
  int64_t kv_cache_positions = 0;   // per sequence: decode prompt + decode tokens
  int64_t workspace_tokens = 0;
  std::string peak_source;
  nlohmann::json weight_bytes_by_kind = nlohmann::json::object();
};

struct BenchSummary {
  int64_t run_id = 0;
  std::string db;
  std::string model;        // the preset / config origin, or the checkpoint directory
  int64_t parameters = 0;
  std::string device;       // "cpu", "cuda:0"
  std::string device_name;  // "CPU", "NVIDIA H100 80GB HBM3"
  std::vector<BenchRow> rows;
  std::vector<BenchPrecision> precisions;  // in run order
};

// Reads the latency task's metrics, samples and engine provenance of `run_id`. NotFound when the run has no
// latency results.
Result<BenchSummary> LoadBenchSummary(ResultStore& store, int64_t run_id);

// The llama-bench-style Markdown tables (throughput, latency per batch, memory) and a note per measurement source.
std::string RenderBenchSummary(const BenchSummary& summary);

// The same content as JSON: {run_id, db, model, parameters, device, device_name, rows: [...], precisions: [...]},
// each precision with its "batches": [{batch, ttft_ms, itl_ms_p50, itl_ms_p90, itl_ms_p99, kv_cache_bytes}] and, on
// a block-diffusion model, "diffusion": {prompt_tokens, max_new_tokens, canvas_length, canvases, max_denoising_steps,
// steps_per_canvas, canvases_at_max_steps, step_ms_p50, step_ms_p90, prompt_commit_ms, canvas_commit_ms, ttfc_ms,
// tokens_per_forward}.
nlohmann::json BenchSummaryJson(const BenchSummary& summary);

}  // namespace fp4lab
