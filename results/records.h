// Plain rows of the result store. One struct per SQLite table (results/schema.cc holds the DDL);
// the store reads and writes them, reports and the gate consume them. No behaviour here.
//
// Keys: a run is one model (+ reference) x precisions x tasks x device. Metrics are keyed
// (run_id, task, precision, metric); samples (run_id, task, precision, sample_id), so two precisions of one run,
// or two runs, join sample by sample on (task, sample_id).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fp4lab {

enum class RunStatus { kRunning, kComplete, kFailed };
const char* RunStatusName(RunStatus s);  // "running" | "complete" | "failed"

struct RunRecord {
  int64_t id = 0;                 // assigned by the store
  std::string plan_key;           // sha256 of the normalized plan; --resume finds the run by it
  std::string tag;                // user label (--tag), may be empty
  RunStatus status = RunStatus::kRunning;
  std::string started_at;         // ISO 8601 UTC, e.g. "2026-11-27T01:50:10Z"
  std::string finished_at;        // empty while running
  std::string model_path;
  std::string reference_path;     // the BF16 reference model (same as model_path when quantized on load)
  std::string device;             // "cpu", "cuda:0"
  std::string device_name;        // "CPU (x86_64)", "NVIDIA H100 80GB HBM3"
  std::string git_sha;            // fp4lab build
  // Everything else: build type, host, command line, model/dataset sha256, device facts (cc, SM count, driver,
  // CUDA/cuBLAS versions), per-precision NVFP4 path ("native" | "emulated" | "weight-only") and its reason.
  nlohmann::json provenance = nlohmann::json::object();
};

// One task x precision inside a run: its version and completion state (for --resume and for reports).
struct TaskRecord {
  int64_t run_id = 0;
  std::string task;       // "perplexity", "fidelity", "mmlu", "humaneval", "latency"
  std::string precision;  // "bf16", "nvfp4", "nvfp4-w4a16", "fp8"
  std::string version;    // task version string; bump when numbers change meaning
  std::string dataset_sha256;
  bool complete = false;
  nlohmann::json config = nlohmann::json::object();  // task options (convention, ctx, shots, ...)
};

struct MetricRecord {
  int64_t run_id = 0;
  std::string task;
  std::string precision;
  std::string metric;     // e.g. "token_ppl", "acc", "kld_mean", "decode_tok_s_b1", "weight_bytes"
  double value = 0.0;
  std::optional<double> stderr_value;  // standard error of value, when defined
  int64_t n = 0;                       // number of items the value averages over
  std::string unit;                    // "", "nats", "tok/s", "ms", "bytes", ...
  std::string higher_is;               // "better" | "worse" | "" (neutral); used by reports and the gate
};

// A precision compared with the reference precision of the same run on the same items (paired).
struct ComparisonRecord {
  int64_t run_id = 0;
  std::string task;
  std::string precision;            // the candidate, e.g. "nvfp4"
  std::string reference_precision;  // usually "bf16"
  std::string metric;               // e.g. "acc", "token_ppl", "ln_ppl_ratio"
  double delta = 0.0;               // candidate - reference (or the metric's own paired statistic)
  double ci_low = 0.0;              // 95% interval of delta
  double ci_high = 0.0;
  std::optional<double> p_value;    // McNemar exact (accuracy) or empty
  std::string method;               // "paired_bootstrap", "mcnemar_exact", "paired_normal"
  nlohmann::json extra = nlohmann::json::object();  // flip counts etc.
};

struct SampleRecord {
  int64_t run_id = 0;
  std::string task;
  std::string precision;
  std::string sample_id;      // stable across runs: e.g. "abstract_algebra/17", "HumanEval/3", "doc4/win0"
  double score = 0.0;         // task-defined: 1/0 correct, NLL sum, KLD mean of the item, ...
  std::string outcome;        // task-defined label: "correct", "wrong", "passed", "failed", "timed_out", ...
  std::string prompt_sha256;  // hash of the exact model input
  nlohmann::json data = nlohmann::json::object();  // per-task details (token count, logprobs, message, ...)
  std::string prompt_text;    // only with --log-samples
  std::string output_text;    // only with --log-samples
  // Binary parts stored with the sample (ResultStore::ReadAttachment reads them back; ListSamples does not), for
  // what a later precision of the same run needs from this one (fidelity: the reference's log-probs). Each part
  // at most kMaxAttachmentPartBytes.
  std::vector<std::string> attachment;
};
inline constexpr size_t kMaxAttachmentPartBytes = size_t{256} << 20;

// Resolved precision of one linear layer for one precision of a run (the "layer precision map").
struct LayerPrecisionRecord {
  int64_t run_id = 0;
  std::string precision;  // the run precision this map belongs to
  std::string layer;      // "model.layers.0.self_attn.q_proj"
  std::string scheme;     // "nvfp4", "nvfp4-w4a16", "fp8", "bf16"
  std::string reason;     // "quantized", "excluded by 'lm_head'", "K=172 not a multiple of 16", ...
  int64_t bytes = 0;      // bytes of this layer's stored weights (codes + scales)
};

}  // namespace fp4lab
