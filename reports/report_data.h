// Everything a report shows, loaded from the result store (and an optional gate result file) before anything
// is rendered, so rendering is a pure function of this struct.
#pragma once

#include <cstdint>
#include <optional>
#include <array>
#include <string>
#include <vector>

#include "engine/status.h"
#include "results/gate.h"
#include "results/records.h"
#include "results/result_store.h"

namespace fp4lab {

// One run's rows. Samples are loaded only for the two sections that need them per item: the KLD histogram
// (fidelity samples' data["kld_hist"] counts over data["kld_bin_edges"]) and HumanEval per-problem flips.
struct RunReportData {
  RunRecord run;
  std::vector<TaskRecord> tasks;
  std::vector<MetricRecord> metrics;
  std::vector<ComparisonRecord> comparisons;
  std::vector<LayerPrecisionRecord> layers;
  std::vector<SampleRecord> fidelity_samples;   // task "fidelity", every precision
  // The code suites' samples (tasks kCodeSuiteTasks: "humaneval", "humaneval+", "mbpp+"), every precision; each
  // sample's `task` says which.
  std::vector<SampleRecord> humaneval_samples;
};

// The task names of the code suites (tasks/humaneval_task.h CodeSuiteName), in report order.
inline constexpr std::array<const char*, 3> kCodeSuiteTasks = {"humaneval", "humaneval+", "mbpp+"};

struct ReportData {
  std::string source;               // the database path, shown in the report header
  std::vector<RunReportData> runs;  // in the order requested; at least one
  std::optional<GateReport> gate;   // from `fp4lab gate --json FILE`, passed as `report --gate FILE`
  std::string gate_source;          // that file's path
};

// Loads `run_ids` (empty: the newest complete run) from `store`, and the gate result from `gate_path` when it
// is non-empty. NotFound for an unknown run id, an empty database or no complete run; the store's and the gate
// file's errors otherwise. A repeated run id is loaded once.
Result<ReportData> LoadReportData(ResultStore& store, const std::vector<int64_t>& run_ids,
                                  const std::string& gate_path);

}  // namespace fp4lab
