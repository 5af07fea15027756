// Verdict: headline metrics per task and precision with their delta vs the reference, the precision paths
// that produced them, weights vs KV cache when the run holds FP8-KV precisions, and the gate's outcome when a gate
// result file was given.
#include <algorithm>

#include "results/gate_output.h"
#include "results/synthetic_weights.h"
#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

bool GateCoversRun(const ReportData& data, const RunReportData& run) {
  return data.gate && data.gate->run_id && *data.gate->run_id == run.run.id;
}

Cell GateCell(const ReportData& data, const MetricRecord& m) {
  std::string text;
  Tone tone = Tone::kPass;
  for (const GateRuleResult& r : data.gate->results) {
    if (r.rule.task != m.task || r.rule.metric != m.metric || r.rule.precision != m.precision) continue;
    text += (text.empty() ? "" : ", ") + GateOutcomeLabel(r.outcome);
    if (r.outcome == GateOutcome::kFail) tone = Tone::kFail;
    if (r.outcome == GateOutcome::kError && tone != Tone::kFail) tone = Tone::kError;
  }
  if (text.empty()) return TextCell("no rule", Tone::kMuted);
  return TextCell(text, tone);
}

Tone VerdictTone(const GateReport& gate) {
  switch (GateExitCode(gate)) {
    case 0:
      return Tone::kPass;
    case 1:
      return Tone::kFail;
    default:
      return Tone::kError;
  }
}

Table GateTable(const GateReport& gate) {
  Table table{"Gate rules", {"Result", "Rule", "Check", "Observed", "95% interval", "Bound", "Reason"}, {}};
  for (const GateRuleResult& r : gate.results) {
    const Tone tone = r.outcome == GateOutcome::kPass   ? Tone::kPass
                      : r.outcome == GateOutcome::kFail ? Tone::kFail
                                                        : Tone::kError;
    Cell observed = r.observed ? NumberCell(FormatSignificant(*r.observed), *r.observed) : TextCell("—", Tone::kMuted);
    std::string interval = (r.ci_low && r.ci_high) ? "[" + FormatSignificant(*r.ci_low) + ", " +
                                                         FormatSignificant(*r.ci_high) + "] " + r.interval_method
                                                   : "—";
    table.rows.push_back({TextCell(GateOutcomeLabel(r.outcome), tone), TextCell(r.rule.name),
                          TextCell(DescribeGateCheck(r.rule)), observed, TextCell(interval),
                          TextCell(DescribeGateBound(r.rule)), TextCell(r.reason)});
  }
  return table;
}

std::vector<Block> PathParagraphs(const RunReportData& run) {
  std::vector<Block> blocks;
  for (const std::string& precision : RunPrecisions(run)) {
    const PrecisionPath path = LookupPrecisionPath(run.run, precision);
    if (path.path.empty()) continue;
    blocks.push_back(Paragraph{"Numbers for " + precision + " come from the " + path.path + " path" +
                               (path.reason.empty() ? "." : ": " + path.reason + ".")});
  }
  return blocks;
}

Result<std::vector<Block>> RunVerdict(const ReportData& data, const RunReportData& run) {
  std::vector<Block> blocks;
  if (run.run.status != RunStatus::kComplete) {
    blocks.push_back(Paragraph{"Run #" + std::to_string(run.run.id) + " is incomplete (status " +
                                   RunStatusName(run.run.status) +
                                   "): it was killed, failed or is still running, so its numbers cover only what was "
                                   "stored. Finish it with `fp4lab run --resume`.",
                               Tone::kError});
  }
  if (const std::optional<std::string> synthetic = SyntheticWeightsNote(run.run)) {
    blocks.push_back(Paragraph{"Run #" + std::to_string(run.run.id) + " ran " + *synthetic +
                                   ". Every score below comes from random weights; only the timings mean anything, "
                                   "and `fp4lab gate` refuses this run.",
                               Tone::kError});
  }
  std::vector<MetricName> names = MetricNames(run, [&run](const MetricRecord& m) {
    return IsHeadlineMetric(m.metric) || FindComparison(run, m.task, m.precision, m.metric) != nullptr;
  });
  std::stable_sort(names.begin(), names.end(),
                   [](const MetricName& a, const MetricName& b) { return TaskRank(a.task) < TaskRank(b.task); });
  const bool with_gate = GateCoversRun(data, run);
  if (with_gate) {
    blocks.push_back(Paragraph{"Gate: " + GateVerdictLabel(*data.gate) + " — " + GateSummaryLine(*data.gate) +
                                   " (from " + data.gate_source + ").",
                               VerdictTone(*data.gate)});
    if (!data.gate->setup_error.empty()) {
      blocks.push_back(Paragraph{"Gate could not evaluate: " + data.gate->setup_error, Tone::kError});
    }
  }
  if (names.empty() && !with_gate) return blocks;
  for (Block& b : PathParagraphs(run)) blocks.push_back(std::move(b));
  if (!names.empty()) {
    const std::string reference = ReferencePrecision(run);
    Table table{"Headline results (Δ = precision − " + reference + " on the same items)",
                {"Task", "Metric", "Precision", "Value", "Δ vs " + reference, "95% interval", "Change"},
                {}};
    if (with_gate) table.columns.push_back("Gate");
    for (const MetricName& name : names) {
      for (const std::string& precision : RunPrecisions(run)) {
        const MetricRecord* m = FindMetric(run, name.task, precision, name.metric);
        if (m == nullptr) continue;
        DeltaCells delta = CompareToReference(run, *m);
        std::vector<Cell> row = {TextCell(m->task), TextCell(m->metric), TextCell(precision), MetricValueCell(*m),
                                 delta.delta,       delta.interval,      delta.change};
        if (with_gate) row.push_back(GateCell(data, *m));
        table.rows.push_back(std::move(row));
      }
    }
    blocks.push_back(std::move(table));
  }
  for (Block& b : BuildKvAttributionBlocks(run)) blocks.push_back(std::move(b));
  if (with_gate && !data.gate->results.empty()) blocks.push_back(GateTable(*data.gate));
  return blocks;
}

}  // namespace

Result<Section> BuildVerdictSection(const ReportData& data) {
  Section section{"verdict", "Verdict", true, {}};
  if (data.gate && (!data.gate->run_id || std::none_of(data.runs.begin(), data.runs.end(), [&](const RunReportData& r) {
        return r.run.id == *data.gate->run_id;
      }))) {
    const std::string which = data.gate->run_id ? "run #" + std::to_string(*data.gate->run_id) : "no run";
    section.blocks.push_back(Paragraph{"The gate result in " + data.gate_source + " is for " + which +
                                           ", which this report does not cover: " + GateVerdictLabel(*data.gate) +
                                           (data.gate->setup_error.empty() ? "" : " (" + data.gate->setup_error + ")"),
                                       VerdictTone(*data.gate)});
  }
  FP4LAB_RETURN_IF_ERROR(
      AddPerRunBlocks(data, &section, [&data](const RunReportData& run) { return RunVerdict(data, run); }));
  return section;
}

}  // namespace fp4lab
