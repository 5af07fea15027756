// Weights vs KV cache: a run that holds precisions with the FP8 KV cache (labels "W+kv-fp8") splits each delta
// against the reference (bf16 weights, bf16 cache) into the part the weights cause and the part the cache causes,
// so an NVFP4 checkpoint that runs with FP8 KV by default (vLLM's --kv-cache-dtype auto) is not blamed for its
// cache. Each precision's two axes come from what the runner stored for its engine (provenance["engines"][label]:
// "precision" = the weights, "kv_cache" = the cache format), not from parsing its label.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

struct Axes {
  std::string weights;
  std::string kv_cache;
};

// label -> axes of every precision the run stored an engine for (runs before the KV axis existed: bf16 cache).
std::map<std::string, Axes> PrecisionAxes(const RunRecord& run) {
  std::map<std::string, Axes> out;
  const nlohmann::json engines = run.provenance.value("engines", nlohmann::json::object());
  if (!engines.is_object()) return out;
  for (const auto& [label, engine] : engines.items()) {
    if (!engine.is_object()) continue;
    const nlohmann::json weights = engine.value("precision", nlohmann::json());
    const nlohmann::json kv = engine.value("kv_cache", nlohmann::json("bf16"));
    if (weights.is_string() && kv.is_string()) out[label] = {weights.get<std::string>(), kv.get<std::string>()};
  }
  return out;
}

// The label whose engine ran `weights` with `kv_cache`, or "".
std::string LabelOf(const std::map<std::string, Axes>& axes, const std::string& weights, const std::string& kv_cache) {
  for (const auto& [label, a] : axes) {
    if (a.weights == weights && a.kv_cache == kv_cache) return label;
  }
  return "";
}

// The delta of `label` against the reference for one metric, as the verdict table shows it; nullopt when the run
// has no such metric.
std::optional<DeltaCells> DeltaOf(const RunReportData& run, const MetricName& name, const std::string& label) {
  if (label.empty()) return std::nullopt;
  const MetricRecord* m = FindMetric(run, name.task, label, name.metric);
  if (m == nullptr) return std::nullopt;
  return CompareToReference(run, *m);
}

Cell DeltaCell(const std::optional<DeltaCells>& delta) { return delta ? delta->delta : MissingCell(); }

}  // namespace

std::vector<Block> BuildKvAttributionBlocks(const RunReportData& run) {
  const std::map<std::string, Axes> axes = PrecisionAxes(run.run);
  const bool any_fp8 =
      std::any_of(axes.begin(), axes.end(), [](const auto& entry) { return entry.second.kv_cache == "fp8"; });
  if (!any_fp8) return {};
  const std::string reference = ReferencePrecision(run);
  const std::string cache_only = LabelOf(axes, "bf16", "fp8");
  std::vector<std::string> weights;  // quantized weights that ran with the FP8 cache, in run order
  for (const std::string& label : RunPrecisions(run)) {
    const auto a = axes.find(label);
    if (a == axes.end() || a->second.weights == "bf16" || a->second.kv_cache != "fp8") continue;
    if (std::find(weights.begin(), weights.end(), a->second.weights) == weights.end()) {
      weights.push_back(a->second.weights);
    }
  }
  std::vector<Block> blocks;
  blocks.push_back(Paragraph{
      "Weights vs KV cache: every delta is against " + reference +
      " (bf16 weights, bf16 KV cache) on the same items. Weight effect = W with the bf16 cache; KV-cache effect = "
      "bf16 weights with the FP8 (E4M3) cache; combined = W with the FP8 cache; interaction = combined − weight "
      "effect − KV-cache effect."});
  if (cache_only.empty()) {
    blocks.push_back(Paragraph{"This run has no bf16+kv-fp8 precision, so the KV-cache effect is not measured: "
                               "add bf16+kv-fp8 to --precisions.",
                               Tone::kMuted});
  }
  std::vector<MetricName> names = MetricNames(run, [&run](const MetricRecord& m) {  // the verdict's metrics
    return IsHeadlineMetric(m.metric) || FindComparison(run, m.task, m.precision, m.metric) != nullptr;
  });
  std::stable_sort(names.begin(), names.end(),
                   [](const MetricName& a, const MetricName& b) { return TaskRank(a.task) < TaskRank(b.task); });
  Table table{"Weights vs KV cache (Δ vs " + reference + ")",
              {"Task", "Metric", "Weights", "Weight effect", "KV-cache effect", "Combined", "Interaction"},
              {}};
  std::vector<std::string> rows_weights = weights;
  if (rows_weights.empty()) rows_weights.push_back("bf16");  // only the cache-only precision: its effect alone
  for (const MetricName& name : names) {
    const auto cache = DeltaOf(run, name, cache_only);
    for (const std::string& w : rows_weights) {
      const bool bf16 = w == "bf16";
      const auto weight = bf16 ? std::nullopt : DeltaOf(run, name, LabelOf(axes, w, "bf16"));
      const auto combined = bf16 ? std::nullopt : DeltaOf(run, name, LabelOf(axes, w, "fp8"));
      if (!cache && !combined) continue;
      Cell interaction = MissingCell();
      if (weight && cache && combined && weight->delta.value && cache->delta.value && combined->delta.value) {
        const double value = *combined->delta.value - *weight->delta.value - *cache->delta.value;
        const MetricRecord* m = FindMetric(run, name.task, LabelOf(axes, w, "fp8"), name.metric);
        interaction = NumberCell(FormatDelta(name.metric, m->unit, value), value);
      }
      table.rows.push_back({TextCell(name.task), TextCell(name.metric), TextCell(w), DeltaCell(weight),
                            DeltaCell(cache), DeltaCell(combined), std::move(interaction)});
    }
  }
  if (!table.rows.empty()) blocks.push_back(std::move(table));
  return blocks;
}

}  // namespace fp4lab
