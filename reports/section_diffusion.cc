// Tasks made for comparing block-diffusion and causal models: generative MMLU, denoiser fidelity and the diffusion
// latency metrics, each with the convention its numbers follow.
#include <functional>
#include <set>

#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

// The latency task's metrics on a block-diffusion model (tasks/diffusion_latency.h).
const std::set<std::string>& DiffusionLatencyMetrics() {
  static const std::set<std::string> kNames = {"diffusion_tok_s",    "diffusion_canvas_tok_s", "ttfc_ms",
                                               "steps_per_canvas",   "tokens_per_forward",
                                               "self_conditioning_bytes"};
  return kNames;
}

constexpr char kDiffusionLatencyConvention[] =
    "Convention: one whole block-diffusion generation at batch 1 through the sampler; tok/s = generated tokens per "
    "second with every denoising step on the clock; canvas tok/s = decoder forwards x canvas length per second; "
    "time to first canvas = until the first canvas's last denoising step; self-conditioning buffers = 2 x canvas x "
    "vocab f32.";

// The convention the task stored in its config ("" when none).
std::string StoredConvention(const RunReportData& run, const std::string& task) {
  for (const TaskRecord& t : run.tasks) {
    if (t.task == task && t.config.contains("convention") && t.config["convention"].is_string()) {
      return t.config["convention"].get<std::string>();
    }
  }
  return "";
}

Table MetricTable(const RunReportData& run, const std::string& caption, const std::vector<MetricName>& names) {
  const std::string reference = ReferencePrecision(run);
  Table table{caption, {"Metric", "Precision", "Value", "n", "Δ vs " + reference, "95% interval", "Change"}, {}};
  for (const MetricName& name : names) {
    for (const std::string& p : RunPrecisions(run)) {
      const MetricRecord* m = FindMetric(run, name.task, p, name.metric);
      if (m == nullptr) continue;
      DeltaCells delta = CompareToReference(run, *m);
      table.rows.push_back({TextCell(m->metric), TextCell(p), MetricValueCell(*m),
                            NumberCell(std::to_string(m->n), static_cast<double>(m->n)), delta.delta, delta.interval,
                            delta.change});
    }
  }
  return table;
}

void AddTask(const RunReportData& run, const std::string& task, const std::string& caption,
             const std::function<bool(const MetricRecord&)>& keep, const std::string& convention,
             std::vector<Block>& blocks) {
  const std::vector<MetricName> names =
      MetricNames(run, [&](const MetricRecord& m) { return m.task == task && keep(m); });
  if (names.empty()) return;
  blocks.push_back(Paragraph{caption + ". " + (convention.empty() ? "Convention: not stored." : convention),
                             Tone::kNeutral});
  blocks.push_back(MetricTable(run, caption, names));
}

std::vector<Block> DiffusionBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  AddTask(run, "mmlu_generative", "MMLU, generative",
          [](const MetricRecord& m) { return !StartsWith(m.metric, "exact_match/"); },
          "Convention: " + StoredConvention(run, "mmlu_generative") + ".", blocks);
  AddTask(run, "denoiser_fidelity", "Denoiser fidelity", [](const MetricRecord&) { return true; },
          "Convention: " + StoredConvention(run, "denoiser_fidelity") + ".", blocks);
  AddTask(run, "latency", "Block-diffusion latency",
          [](const MetricRecord& m) { return DiffusionLatencyMetrics().count(m.metric) > 0; },
          kDiffusionLatencyConvention, blocks);
  return blocks;
}

}  // namespace

Result<Section> BuildDiffusionSection(const ReportData& data) {
  Section section{"diffusion", "Generative MMLU, denoiser fidelity and diffusion latency", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(
      data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> { return DiffusionBlocks(run); }));
  return section;
}

}  // namespace fp4lab
