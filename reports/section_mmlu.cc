// MMLU: overall accuracy with paired flips, accuracy by category (table + chart) and by subject.
#include <algorithm>

#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

bool IsMmlu(const MetricRecord& m) { return m.task == "mmlu"; }

// A table over metrics "<prefix><group>": one row per group, the value of each precision, then for each
// candidate its delta vs the reference, interval and direction.
Table GroupTable(const RunReportData& run, const std::string& caption, const std::string& prefix,
                 const std::string& group_column) {
  const std::vector<std::string> precisions = PrecisionsWith(run, IsMmlu);
  const std::string reference = ReferencePrecision(run);
  Table table{caption, {group_column, "n"}, {}};
  for (const std::string& p : precisions) table.columns.push_back(p);
  for (const std::string& p : precisions) {
    if (p == reference) continue;
    table.columns.push_back("Δ " + p);
    table.columns.push_back("95% interval " + p);
    table.columns.push_back("Change " + p);
  }
  for (const MetricName& name :
       MetricNames(run, [&](const MetricRecord& m) { return m.task == "mmlu" && StartsWith(m.metric, prefix); })) {
    std::vector<Cell> row = {TextCell(name.metric.substr(prefix.size()))};
    int64_t n = 0;
    for (const std::string& p : precisions) {
      if (const MetricRecord* m = FindMetric(run, "mmlu", p, name.metric)) n = std::max(n, m->n);
    }
    row.push_back(NumberCell(std::to_string(n), static_cast<double>(n)));
    for (const std::string& p : precisions) {
      const MetricRecord* m = FindMetric(run, "mmlu", p, name.metric);
      row.push_back(m ? MetricValueCell(*m) : MissingCell());
    }
    for (const std::string& p : precisions) {
      if (p == reference) continue;
      const MetricRecord* m = FindMetric(run, "mmlu", p, name.metric);
      if (m == nullptr) {
        row.insert(row.end(), {MissingCell(), MissingCell(), MissingCell()});
        continue;
      }
      DeltaCells delta = CompareToReference(run, *m);
      row.insert(row.end(), {delta.delta, delta.interval, delta.change});
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::vector<Block> MmluBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  const std::vector<MetricName> overall = MetricNames(run, [](const MetricRecord& m) {
    return m.task == "mmlu" && !StartsWith(m.metric, "acc/") && !StartsWith(m.metric, "acc_cat/");
  });
  const bool any =
      std::any_of(run.metrics.begin(), run.metrics.end(), [](const MetricRecord& m) { return m.task == "mmlu"; });
  if (!any) return blocks;
  const std::string reference = ReferencePrecision(run);
  if (!overall.empty()) {
    Table table{"MMLU overall",
                {"Metric", "Precision", "Value", "n", "Δ vs " + reference, "95% interval", "Change", "Paired flips"},
                {}};
    for (const MetricName& name : overall) {
      for (const std::string& p : PrecisionsWith(run, IsMmlu)) {
        const MetricRecord* m = FindMetric(run, "mmlu", p, name.metric);
        if (m == nullptr) continue;
        DeltaCells delta = CompareToReference(run, *m);
        table.rows.push_back(
            {TextCell(m->metric), TextCell(p), MetricValueCell(*m),
             NumberCell(std::to_string(m->n), static_cast<double>(m->n)), delta.delta, delta.interval, delta.change,
             TextCell(FlipText(FindComparison(run, "mmlu", p, m->metric), "right→wrong", "wrong→right"))});
      }
    }
    blocks.push_back(std::move(table));
  }
  Table categories = GroupTable(run, "Accuracy by category", "acc_cat/", "Category");
  if (!categories.rows.empty()) {
    const std::vector<std::string> precisions = PrecisionsWith(run, IsMmlu);
    BarChart chart{"MMLU accuracy by category", "%", precisions, {}};
    for (const MetricName& name :
         MetricNames(run, [](const MetricRecord& m) { return m.task == "mmlu" && StartsWith(m.metric, "acc_cat/"); })) {
      for (size_t i = 0; i < precisions.size(); ++i) {
        const MetricRecord* m = FindMetric(run, "mmlu", precisions[i], name.metric);
        if (m == nullptr) continue;
        chart.bars.push_back(Bar{name.metric.substr(8) + " · " + precisions[i],
                                 AsPercent(m->metric, m->unit, m->value).value_or(m->value),
                                 FormatMetricValue(m->metric, m->unit, m->value), static_cast<int>(i)});
      }
    }
    blocks.push_back(std::move(categories));
    blocks.push_back(std::move(chart));
  } else {
    blocks.push_back(Paragraph{"Accuracy by category: not measured in this run.", Tone::kMuted});
  }
  Table subjects = GroupTable(run, "Accuracy by subject", "acc/", "Subject");
  if (!subjects.rows.empty()) {
    blocks.push_back(std::move(subjects));
  } else {
    blocks.push_back(Paragraph{"Accuracy by subject: not measured in this run.", Tone::kMuted});
  }
  return blocks;
}

}  // namespace

Result<Section> BuildMmluSection(const ReportData& data) {
  Section section{"mmlu", "MMLU", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(
      data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> { return MmluBlocks(run); }));
  return section;
}

}  // namespace fp4lab
