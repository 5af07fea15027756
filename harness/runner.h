// The run planner and runner behind `fp4lab run`: one model (plus its BF16 reference) x precisions x tasks x one
// device, every precision on byte-identical inputs, everything stored in a ResultStore.
//
// Memory: one model is resident at a time. Every precision is first opened without weights (config, tokenizer,
// task checks), then each is loaded, evaluated on every task, and freed before the next, the reference first; what
// candidates need from the reference (fidelity's log-probs) is stored with its samples and deleted when the run
// completes. A run's peak memory is that of its largest model plus its working set (provenance "memory").
//
// Crash safety: samples are stored batch by batch (one transaction each) and metrics are computed only from stored
// samples when a task completes, so `--resume` after a crash or kill -9 skips stored samples and ends with the
// same numbers as an uninterrupted run; a run is marked complete only at the very end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

struct Shard {
  int index = 0;  // 0-based
  int count = 1;
  // Deterministic: FNV-1a 64 of the sample id modulo count.
  bool Contains(const std::string& sample_id) const;
};
// "i/n" with 0 <= i < n. InvalidArgument otherwise.
Result<Shard> ParseShard(const std::string& text);

struct RunPlan {
  std::string model_dir;      // the checkpoint under test
  std::string reference_dir;  // its BF16 base; empty = model_dir (a bf16 checkpoint quantized on load)
  // Stored labels (engine/kv_cache_format.h): weights, plus "+kv-fp8" for the FP8 KV cache ("nvfp4+kv-fp8"); a label
  // without the suffix runs the bf16 cache. Reference precision "bf16" first unless no_reference.
  std::vector<std::string> precisions;
  bool no_reference = false;
  std::vector<std::string> tasks;
  nlohmann::json task_options = nlohmann::json::object();  // task name -> options object (see tasks/registry.cc)
  std::string device = "cpu";
  std::string calibration_file;  // text for activation scales when quantizing on load
  int calibration_tokens = 512;
  Shard shard;
  std::string tag;
  bool log_samples = false;
  std::string command_line;  // provenance
  bool quiet_progress = false;  // no progress lines on stderr (`run --json`); not part of the plan's identity
  // `--shard auto`: where the launcher put this process (RankPlacement::ToJson); provenance only, null otherwise.
  nlohmann::json placement;

  // Canonical JSON of everything that determines the stored numbers (not tag, resume or log flags).
  nlohmann::json Canonical() const;
};

struct RunOutcome {
  int64_t run_id = 0;
  bool resumed = false;
};

// The checkpoint a precision label loads: bf16 weights ("bf16", "bf16+kv-fp8") come from the reference checkpoint
// when the plan has one, everything else from model_dir.
std::string ModelFor(const RunPlan& plan, const std::string& precision);

// Runs `plan`, storing into the SQLite file `db_path` (created if missing). With `resume`, continues the newest
// incomplete run of the same plan; when there is none but a complete one, returns that one untouched; error if the
// plan has no run at all. Progress goes to stderr.
Result<RunOutcome> ExecuteRun(const RunPlan& plan, const std::string& db_path, bool resume);

// Recomputes metrics and comparisons of every task of `run_id` from its stored samples (used by merge).
Status RecomputeRunMetrics(const std::string& db_path, int64_t run_id, const std::string& data_dir);

}  // namespace fp4lab
