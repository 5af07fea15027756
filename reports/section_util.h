// Helpers shared by the section builders (section_*.cc): lookups over one run's rows, standard cells and the
// per-run layout of a section. Internal to reports/.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/status.h"
#include "reports/report_data.h"
#include "reports/report_document.h"

namespace fp4lab {

inline constexpr const char* kDefaultReferencePrecision = "bf16";
inline constexpr const char* kNotMeasured = "Not measured in this run.";

bool StartsWith(const std::string& text, const std::string& prefix);

// The precision the run compares against: the first stored comparison's reference, else "bf16".
std::string ReferencePrecision(const RunReportData& run);

// Every precision seen in the run's tasks and metrics: the reference first, then in order of appearance.
std::vector<std::string> RunPrecisions(const RunReportData& run);

// The precisions (in RunPrecisions order) that have at least one metric satisfying `keep`.
std::vector<std::string> PrecisionsWith(const RunReportData& run, const std::function<bool(const MetricRecord&)>& keep);

// Report order of tasks: perplexity, fidelity, mmlu, humaneval, latency, memory, then any other task.
size_t TaskRank(const std::string& task);

const MetricRecord* FindMetric(const RunReportData& run, const std::string& task, const std::string& precision,
                               const std::string& metric);
// The comparison of (task, precision, metric) against the run's reference precision, or nullptr.
const ComparisonRecord* FindComparison(const RunReportData& run, const std::string& task, const std::string& precision,
                                       const std::string& metric);

// Distinct (task, metric) pairs whose metric satisfies `keep`, in stored order.
struct MetricName {
  std::string task;
  std::string metric;
};
std::vector<MetricName> MetricNames(const RunReportData& run, const std::function<bool(const MetricRecord&)>& keep);

// Compact JSON text of a stored value (strings unquoted); invalid UTF-8 is replaced, never thrown on.
std::string JsonText(const nlohmann::json& value);

// "▼ 12 right→wrong / ▲ 5 wrong→right" from a comparison's extra {"right_to_wrong", "wrong_to_right"};
// "—" when absent. `lost` / `gained` name the two directions.
std::string FlipText(const ComparisonRecord* comparison, const std::string& lost, const std::string& gained);

// The metrics the verdict and the device comparison lead with: perplexities, KLD mean/p99, top-1 agreement,
// ln PPL ratio, acc, acc_macro, pass@k, prefill/decode tok/s, TTFT, weight/KV/peak bytes.
bool IsHeadlineMetric(const std::string& metric);

// "Run #3 · tag "nightly" · NVIDIA H100 80GB HBM3 (cuda:0)".
std::string RunTitle(const RunRecord& run);

Cell TextCell(std::string text, Tone tone = Tone::kNeutral);
Cell NumberCell(std::string text, double value, Tone tone = Tone::kNeutral);
// "61.25% ± 1.20%" (stderr when stored), value = the metric's value.
Cell MetricValueCell(const MetricRecord& metric);
Cell MissingCell();  // "not measured", muted

// The comparison of a candidate metric against the reference precision of the same run: the delta (the stored
// paired comparison when there is one, else the difference of the two values), its 95% interval ("—" when
// none is stored), and the direction label (▲/▼ with better/worse, "(within noise)" when the interval holds 0).
struct DeltaCells {
  Cell delta;
  Cell interval;
  Cell change;
};
DeltaCells CompareToReference(const RunReportData& run, const MetricRecord& candidate);

// Lays out a section over every run: `build` returns the blocks of one run (empty: nothing measured). With
// several runs each gets a heading; a run without blocks says kNotMeasured. section->measured is true when
// any run had blocks.
Status AddPerRunBlocks(const ReportData& data, Section* section,
                       const std::function<Result<std::vector<Block>>(const RunReportData&)>& build);

}  // namespace fp4lab
