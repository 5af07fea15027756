// Latency (prefill/decode throughput bars, TTFT/ITL percentiles) and memory (weights, KV cache, peak device
// memory), each per precision with its ratio to the reference precision.
#include <algorithm>
#include <array>
#include <cstdlib>

#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

constexpr std::array<const char*, 4> kMemoryMetrics = {"weight_bytes", "predicted_weight_bytes", "kv_cache_bytes",
                                                       "peak_device_bytes"};
constexpr std::array<const char*, 4> kLatencyPercentiles = {"ttft_ms", "itl_ms_p50", "itl_ms_p90", "itl_ms_p99"};

bool IsMemoryMetric(const std::string& metric) {
  return std::find(kMemoryMetrics.begin(), kMemoryMetrics.end(), metric) != kMemoryMetrics.end();
}

bool IsLatencyMetric(const MetricRecord& m) {
  if (IsMemoryMetric(m.metric)) return false;
  return m.task == "latency" || StartsWith(m.metric, "prefill_tok_s@") || StartsWith(m.metric, "decode_tok_s@") ||
         StartsWith(m.metric, "ttft_ms") || StartsWith(m.metric, "itl_ms");
}

// The number after '@' (prefill length or decode batch, "b" prefix skipped) for ordering; 0 when absent.
double ShapeOf(const std::string& metric) {
  const size_t at = metric.find('@');
  if (at == std::string::npos) return 0.0;
  size_t start = at + 1;
  if (start < metric.size() && metric[start] == 'b') ++start;
  return std::strtod(metric.c_str() + start, nullptr);
}

std::string ShapeLabel(const std::string& metric) {
  const size_t at = metric.find('@');
  if (at == std::string::npos) return metric;
  std::string shape = metric.substr(at + 1);
  if (StartsWith(metric, "prefill_tok_s@")) return "prefill " + shape + " tokens";
  if (StartsWith(metric, "decode_tok_s@")) return "decode batch " + (StartsWith(shape, "b") ? shape.substr(1) : shape);
  return metric;
}

std::string ValueText(const MetricRecord& m) { return FormatMetricValue(m.metric, m.unit, m.value); }

// Table: metric, precision, value, ratio to the reference ("0.28× bf16"), delta and direction.
Table RatioTable(const RunReportData& run, const std::string& caption, const std::vector<MetricName>& names) {
  const std::string reference = ReferencePrecision(run);
  Table table{caption, {"Metric", "Precision", "Value", "Ratio to " + reference, "Δ vs " + reference, "Change"}, {}};
  for (const MetricName& name : names) {
    const MetricRecord* ref = FindMetric(run, name.task, reference, name.metric);
    for (const std::string& p : RunPrecisions(run)) {
      const MetricRecord* m = FindMetric(run, name.task, p, name.metric);
      if (m == nullptr) continue;
      Cell ratio = TextCell("—", Tone::kMuted);
      if (p != reference && ref != nullptr && ref->value != 0.0) {
        const double r = m->value / ref->value;
        ratio = NumberCell(FormatSignificant(r, 3) + "× " + reference, r);
      }
      DeltaCells delta = CompareToReference(run, *m);
      table.rows.push_back({TextCell(m->metric), TextCell(p), MetricValueCell(*m), ratio, delta.delta, delta.change});
    }
  }
  return table;
}

// One bar per (metric, precision), series = precision.
BarChart MetricChart(const RunReportData& run, const std::string& title, const std::string& unit,
                     const std::vector<MetricName>& names,
                     const std::function<std::string(const std::string&)>& label) {
  const std::vector<std::string> precisions = PrecisionsWith(run, [&names](const MetricRecord& m) {
    return std::any_of(names.begin(), names.end(),
                       [&m](const MetricName& n) { return n.task == m.task && n.metric == m.metric; });
  });
  BarChart chart{title, unit, precisions, {}};
  for (const MetricName& name : names) {
    for (size_t i = 0; i < precisions.size(); ++i) {
      const MetricRecord* m = FindMetric(run, name.task, precisions[i], name.metric);
      if (m == nullptr || m->value < 0) continue;
      chart.bars.push_back(
          Bar{label(name.metric) + " · " + precisions[i], m->value, ValueText(*m), static_cast<int>(i)});
    }
  }
  return chart;
}

std::vector<MetricName> SortedByShape(std::vector<MetricName> names) {
  std::stable_sort(names.begin(), names.end(),
                   [](const MetricName& a, const MetricName& b) { return ShapeOf(a.metric) < ShapeOf(b.metric); });
  return names;
}

std::vector<Block> LatencyBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  const std::vector<MetricName> all = MetricNames(run, IsLatencyMetric);
  if (all.empty()) return blocks;
  const auto prefill =
      SortedByShape(MetricNames(run, [](const MetricRecord& m) { return StartsWith(m.metric, "prefill_tok_s@"); }));
  const auto decode =
      SortedByShape(MetricNames(run, [](const MetricRecord& m) { return StartsWith(m.metric, "decode_tok_s@"); }));
  const auto percentiles = MetricNames(run, [](const MetricRecord& m) {
    return std::find(kLatencyPercentiles.begin(), kLatencyPercentiles.end(), m.metric) != kLatencyPercentiles.end();
  });
  if (!prefill.empty())
    blocks.push_back(MetricChart(run, "Prefill throughput (higher is better)", "tok/s", prefill, ShapeLabel));
  if (!decode.empty())
    blocks.push_back(MetricChart(run, "Decode throughput (higher is better)", "tok/s", decode, ShapeLabel));
  if (!percentiles.empty()) {
    blocks.push_back(MetricChart(run, "Time to first token and inter-token latency (lower is better)", "ms",
                                 percentiles, [](const std::string& metric) { return metric; }));
  } else {
    blocks.push_back(Paragraph{"TTFT / ITL percentiles: not measured in this run.", Tone::kMuted});
  }
  blocks.push_back(RatioTable(run, "Latency and throughput", all));
  return blocks;
}

std::string BytesLabel(const std::string& metric) {
  if (metric == "weight_bytes") return "weights";
  if (metric == "predicted_weight_bytes") return "weights (predicted)";
  if (metric == "kv_cache_bytes") return "KV cache";
  if (metric == "peak_device_bytes") return "peak device";
  return metric;
}

std::vector<Block> MemoryBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  const std::vector<MetricName> names =
      MetricNames(run, [](const MetricRecord& m) { return IsMemoryMetric(m.metric); });
  if (names.empty()) return blocks;
  blocks.push_back(MetricChart(run, "Memory (lower is better)", "bytes", names, BytesLabel));
  blocks.push_back(RatioTable(run, "Memory", names));
  for (const std::string& p : RunPrecisions(run)) {
    for (const MetricName& name : names) {
      if (name.metric != "weight_bytes") continue;
      const MetricRecord* measured = FindMetric(run, name.task, p, "weight_bytes");
      const MetricRecord* predicted = FindMetric(run, name.task, p, "predicted_weight_bytes");
      if (measured == nullptr || predicted == nullptr || predicted->value == 0.0) continue;
      const double off = (measured->value - predicted->value) / predicted->value;
      blocks.push_back(Paragraph{p + " weights: measured " + FormatBytes(measured->value) + ", predicted " +
                                 FormatBytes(predicted->value) + " (" + FormatSignedSignificant(100.0 * off, 3) +
                                 "% off the prediction)."});
    }
  }
  return blocks;
}

}  // namespace

Result<Section> BuildLatencySection(const ReportData& data) {
  Section section{"latency", "Latency", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(
      data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> { return LatencyBlocks(run); }));
  return section;
}

Result<Section> BuildMemorySection(const ReportData& data) {
  Section section{"memory", "Memory", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(
      data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> { return MemoryBlocks(run); }));
  return section;
}

}  // namespace fp4lab
