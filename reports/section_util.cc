#include "reports/section_util.h"

#include <algorithm>
#include <array>

#include "reports/report_format.h"

namespace fp4lab {

bool StartsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

std::string ReferencePrecision(const RunReportData& run) {
  for (const ComparisonRecord& c : run.comparisons) {
    if (!c.reference_precision.empty()) return c.reference_precision;
  }
  return kDefaultReferencePrecision;
}

std::vector<std::string> RunPrecisions(const RunReportData& run) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& p) {
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  for (const TaskRecord& t : run.tasks) add(t.precision);
  for (const MetricRecord& m : run.metrics) add(m.precision);
  for (const LayerPrecisionRecord& l : run.layers) add(l.precision);
  const std::string reference = ReferencePrecision(run);
  auto it = std::find(out.begin(), out.end(), reference);
  if (it != out.end()) std::rotate(out.begin(), it, it + 1);
  return out;
}

std::vector<std::string> PrecisionsWith(const RunReportData& run,
                                        const std::function<bool(const MetricRecord&)>& keep) {
  std::vector<std::string> out;
  for (const std::string& precision : RunPrecisions(run)) {
    const bool has = std::any_of(run.metrics.begin(), run.metrics.end(),
                                 [&](const MetricRecord& m) { return m.precision == precision && keep(m); });
    if (has) out.push_back(precision);
  }
  return out;
}

size_t TaskRank(const std::string& task) {
  static const std::array<const char*, 8> kTaskOrder = {"perplexity", "fidelity", "mmlu",    "humaneval",
                                                        "humaneval+", "mbpp+",    "latency", "memory"};
  return static_cast<size_t>(std::find(kTaskOrder.begin(), kTaskOrder.end(), task) - kTaskOrder.begin());
}

const MetricRecord* FindMetric(const RunReportData& run, const std::string& task, const std::string& precision,
                               const std::string& metric) {
  for (const MetricRecord& m : run.metrics) {
    if (m.task == task && m.precision == precision && m.metric == metric) return &m;
  }
  return nullptr;
}

const ComparisonRecord* FindComparison(const RunReportData& run, const std::string& task, const std::string& precision,
                                       const std::string& metric) {
  const std::string reference = ReferencePrecision(run);
  for (const ComparisonRecord& c : run.comparisons) {
    if (c.task == task && c.precision == precision && c.metric == metric && c.reference_precision == reference) {
      return &c;
    }
  }
  return nullptr;
}

std::vector<MetricName> MetricNames(const RunReportData& run, const std::function<bool(const MetricRecord&)>& keep) {
  std::vector<MetricName> out;
  for (const MetricRecord& m : run.metrics) {
    if (!keep(m)) continue;
    const bool seen = std::any_of(out.begin(), out.end(),
                                  [&m](const MetricName& n) { return n.task == m.task && n.metric == m.metric; });
    if (!seen) out.push_back({m.task, m.metric});
  }
  return out;
}

std::string JsonText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string FlipText(const ComparisonRecord* comparison, const std::string& lost, const std::string& gained) {
  if (comparison == nullptr) return "—";
  auto down = comparison->extra.find("right_to_wrong");
  auto up = comparison->extra.find("wrong_to_right");
  if (down == comparison->extra.end() || up == comparison->extra.end() || !down->is_number() || !up->is_number()) {
    return "—";
  }
  return "▼ " + JsonText(*down) + " " + lost + " / ▲ " + JsonText(*up) + " " + gained;
}

bool IsHeadlineMetric(const std::string& metric) {
  static const std::array<const char*, 15> kNames = {
      "ppl",       "token_ppl", "word_ppl",     "byte_ppl",          "bits_per_byte",
      "kld_mean",  "kld_p99",   "same_top_p",   "ln_ppl_ratio",      "acc",
      "acc_macro", "ttft_ms",   "weight_bytes", "peak_device_bytes", "kv_cache_bytes"};
  if (std::find(kNames.begin(), kNames.end(), metric) != kNames.end()) return true;
  return StartsWith(metric, "pass@") || StartsWith(metric, "prefill_tok_s@") || StartsWith(metric, "decode_tok_s@");
}

std::string RunTitle(const RunRecord& run) {
  std::string title = "Run #" + std::to_string(run.id);
  if (!run.tag.empty()) title += " · tag \"" + run.tag + "\"";
  if (!run.device_name.empty() || !run.device.empty()) {
    title += " · " + (run.device_name.empty() ? run.device : run.device_name + " (" + run.device + ")");
  }
  return title;
}

Cell TextCell(std::string text, Tone tone) { return Cell{std::move(text), std::nullopt, tone}; }

Cell NumberCell(std::string text, double value, Tone tone) { return Cell{std::move(text), value, tone}; }

Cell MetricValueCell(const MetricRecord& metric) {
  std::string text = FormatMetricValue(metric.metric, metric.unit, metric.value);
  if (metric.stderr_value) text += " " + FormatStderr(metric.metric, metric.unit, *metric.stderr_value);
  return NumberCell(std::move(text), metric.value);
}

Cell MissingCell() { return TextCell("not measured", Tone::kMuted); }

DeltaCells CompareToReference(const RunReportData& run, const MetricRecord& candidate) {
  const std::string reference = ReferencePrecision(run);
  if (candidate.precision == reference) {
    return {TextCell("reference", Tone::kMuted), TextCell("—", Tone::kMuted), TextCell("—", Tone::kMuted)};
  }
  if (const ComparisonRecord* c = FindComparison(run, candidate.task, candidate.precision, candidate.metric)) {
    const bool within_noise = c->ci_low <= 0.0 && c->ci_high >= 0.0;
    std::string interval = FormatDeltaInterval(candidate.metric, candidate.unit, c->ci_low, c->ci_high);
    if (c->p_value) interval += " · p=" + FormatSignificant(*c->p_value, 3);
    const Tone tone = ChangeTone(candidate.higher_is, c->delta, within_noise);
    return {NumberCell(FormatDelta(candidate.metric, candidate.unit, c->delta), c->delta, tone),
            TextCell(std::move(interval)), TextCell(ChangeLabel(candidate.higher_is, c->delta, within_noise), tone)};
  }
  const MetricRecord* ref = FindMetric(run, candidate.task, reference, candidate.metric);
  if (ref == nullptr) {
    return {TextCell("no " + reference + " value", Tone::kMuted), TextCell("—", Tone::kMuted),
            TextCell("—", Tone::kMuted)};
  }
  const double delta = candidate.value - ref->value;
  const Tone tone = ChangeTone(candidate.higher_is, delta, false);
  return {NumberCell(FormatDelta(candidate.metric, candidate.unit, delta), delta, tone),
          TextCell("not stored", Tone::kMuted), TextCell(ChangeLabel(candidate.higher_is, delta, false), tone)};
}

Status AddPerRunBlocks(const ReportData& data, Section* section,
                       const std::function<Result<std::vector<Block>>(const RunReportData&)>& build) {
  const bool several = data.runs.size() > 1;
  section->measured = false;
  for (const RunReportData& run : data.runs) {
    Result<std::vector<Block>> blocks = build(run);
    if (!blocks.ok())
      return blocks.status().WithContext("section \"" + section->id + "\", run #" + std::to_string(run.run.id));
    if (several) section->blocks.push_back(Heading{RunTitle(run.run)});
    if (blocks->empty()) {
      section->blocks.push_back(Paragraph{kNotMeasured, Tone::kMuted});
      continue;
    }
    section->measured = true;
    for (Block& block : *blocks) section->blocks.push_back(std::move(block));
  }
  return Status::Ok();
}

}  // namespace fp4lab
