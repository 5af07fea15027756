// What `fp4lab bench` prints: the latency task's stored results of one run, read back from the result store and
// laid out like llama-bench (one row per precision x test, "t/s" as mean ± stddev over repetitions), followed by
// latency percentiles and memory per precision. The same shape on every device: the CPU fills it the same way a
// GPU does, with the shapes it did not measure marked as such.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "harness/results/result_store.h"

namespace fp4lab {

// One throughput row: "pp<L>" (prefill of L tokens) or "tg<N>" (N decode tokens at batch 1); a batch that was
// not measured is a row "tg<N> b<B>" with `note` saying why.
struct BenchRow {
  std::string precision;
  std::string test;
  std::optional<double> tok_s;   // mean over repetitions
  std::optional<double> stddev;  // sample standard deviation over repetitions (n >= 2)
  int64_t repetitions = 0;
  std::string note;              // why there is no figure
};

// Latency and memory of one precision (absent figures stay nullopt).
struct BenchPrecision {
  std::string precision;
  std::string path;          // the NVFP4 / linear path that ran: "reference", "native", "emulated", "weight-only"
  std::optional<double> ttft_ms, itl_p50_ms, itl_p90_ms, itl_p99_ms;
  std::optional<double> weight_bytes, predicted_weight_bytes, kv_cache_bytes, workspace_bytes, peak_bytes;
  int64_t kv_cache_positions = 0;
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

// The llama-bench-style Markdown tables (throughput, then latency and memory) and a note per measurement source.
std::string RenderBenchSummary(const BenchSummary& summary);

// The same content as JSON: {run_id, db, model, parameters, device, device_name, rows: [...], precisions: [...]}.
nlohmann::json BenchSummaryJson(const BenchSummary& summary);

}  // namespace fp4lab
