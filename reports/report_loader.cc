#include <algorithm>

#include "results/gate_output.h"
#include "reports/report_data.h"

namespace fp4lab {
namespace {

bool HasTask(const std::vector<TaskRecord>& tasks, const std::string& task) {
  return std::any_of(tasks.begin(), tasks.end(), [&](const TaskRecord& t) { return t.task == task; });
}

Result<RunReportData> LoadRun(ResultStore& store, RunRecord run) {
  RunReportData data;
  const int64_t id = run.id;
  FP4LAB_ASSIGN_OR_RETURN(data.tasks, store.ListTasks(id));
  FP4LAB_ASSIGN_OR_RETURN(data.metrics, store.ListMetrics(id));
  FP4LAB_ASSIGN_OR_RETURN(data.comparisons, store.ListComparisons(id));
  FP4LAB_ASSIGN_OR_RETURN(data.layers, store.ListLayerPrecisions(id));
  if (HasTask(data.tasks, "fidelity")) {
    FP4LAB_ASSIGN_OR_RETURN(data.fidelity_samples, store.ListSamples(id, "fidelity", ""));
  }
  for (const char* suite : kCodeSuiteTasks) {
    if (!HasTask(data.tasks, suite)) continue;
    FP4LAB_ASSIGN_OR_RETURN(std::vector<SampleRecord> samples, store.ListSamples(id, suite, ""));
    for (SampleRecord& s : samples) data.humaneval_samples.push_back(std::move(s));
  }
  data.run = std::move(run);
  return data;
}

Result<std::vector<RunRecord>> ResolveRuns(ResultStore& store, const std::vector<int64_t>& run_ids) {
  std::vector<RunRecord> runs;
  if (run_ids.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(std::vector<RunRecord> all, store.ListRuns());
    if (all.empty()) return Status::NotFound(store.path() + ": the database holds no runs; nothing to report");
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->status == RunStatus::kComplete) return std::vector<RunRecord>{*it};
    }
    return Status::NotFound(store.path() + ": no complete run among " + std::to_string(all.size()) +
                            " runs; choose runs with --runs");
  }
  for (int64_t id : run_ids) {
    if (std::any_of(runs.begin(), runs.end(), [id](const RunRecord& r) { return r.id == id; })) continue;
    FP4LAB_ASSIGN_OR_RETURN(RunRecord run, store.GetRun(id));
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace

Result<ReportData> LoadReportData(ResultStore& store, const std::vector<int64_t>& run_ids,
                                  const std::string& gate_path) {
  ReportData data;
  data.source = store.path();
  FP4LAB_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, ResolveRuns(store, run_ids));
  for (RunRecord& run : runs) {
    FP4LAB_ASSIGN_OR_RETURN(RunReportData loaded, LoadRun(store, std::move(run)));
    data.runs.push_back(std::move(loaded));
  }
  if (!gate_path.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(GateReport gate, LoadGateReport(gate_path));
    data.gate = std::move(gate);
    data.gate_source = gate_path;
  }
  return data;
}

}  // namespace fp4lab
