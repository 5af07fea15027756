#include "reports/report_builder.h"

#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {

const std::vector<std::string>& ReportSectionIds() {
  static const std::vector<std::string> kIds = {"verdict",   "perplexity-fidelity", "mmlu",   "humaneval",
                                                "diffusion", "latency",             "memory", "layer-precision",
                                                "devices",   "provenance"};
  return kIds;
}

Result<ReportDocument> BuildReportDocument(const ReportData& data) {
  if (data.runs.empty()) return Status::InvalidArgument("report: no runs to show");
  ReportDocument document;
  const RunRecord& first = data.runs.front().run;
  document.title =
      "fp4lab report: " + (first.model_path.empty() ? "run #" + std::to_string(first.id) : first.model_path);
  document.summary.push_back("Database: " + data.source);
  for (const RunReportData& run : data.runs) {
    std::string line = RunTitle(run.run) + " · " + RunStatusName(run.run.status) + " · started " + run.run.started_at;
    if (!run.run.finished_at.empty()) line += ", finished " + run.run.finished_at;
    line += " · model " + run.run.model_path;
    if (!run.run.reference_path.empty() && run.run.reference_path != run.run.model_path) {
      line += ", reference " + run.run.reference_path;
    }
    document.summary.push_back(line);
  }
  using Builder = Result<Section> (*)(const ReportData&);
  const Builder builders[] = {BuildVerdictSection,        BuildPerplexityFidelitySection,
                              BuildMmluSection,           BuildHumanEvalSection,
                              BuildDiffusionSection,
                              BuildLatencySection,        BuildMemorySection,
                              BuildLayerPrecisionSection, BuildDevicesSection,
                              BuildProvenanceSection};
  for (Builder build : builders) {
    FP4LAB_ASSIGN_OR_RETURN(Section section, build(data));
    document.sections.push_back(std::move(section));
  }
  return document;
}

}  // namespace fp4lab
