// Per-layer precision map: which scheme each linear layer resolved to for each run precision, why, and its
// stored bytes, with a per-scheme summary.
#include <map>

#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

std::vector<Block> LayerBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  if (run.layers.empty()) return blocks;
  Table summary{"Layers per scheme", {"Precision", "Scheme", "Layers", "Bytes", "Share of bytes"}, {}};
  for (const std::string& precision : RunPrecisions(run)) {
    std::map<std::string, std::pair<int64_t, double>> by_scheme;  // scheme -> (layers, bytes)
    double total = 0;
    for (const LayerPrecisionRecord& l : run.layers) {
      if (l.precision != precision) continue;
      auto& entry = by_scheme[l.scheme];
      ++entry.first;
      entry.second += static_cast<double>(l.bytes);
      total += static_cast<double>(l.bytes);
    }
    for (const auto& [scheme, entry] : by_scheme) {
      const double share = total > 0 ? entry.second / total : 0.0;
      summary.rows.push_back({TextCell(precision), TextCell(scheme),
                              NumberCell(std::to_string(entry.first), static_cast<double>(entry.first)),
                              NumberCell(FormatBytes(entry.second), entry.second),
                              NumberCell(FormatSignificant(100.0 * share, 3) + "%", share)});
    }
  }
  blocks.push_back(std::move(summary));
  Table table{"Layer precision map", {"Precision", "Layer", "Scheme", "Bytes", "Reason"}, {}};
  for (const LayerPrecisionRecord& l : run.layers) {
    table.rows.push_back({TextCell(l.precision), TextCell(l.layer),
                          TextCell(l.scheme, l.scheme == "bf16" ? Tone::kMuted : Tone::kNeutral),
                          NumberCell(FormatBytes(static_cast<double>(l.bytes)), static_cast<double>(l.bytes)),
                          TextCell(l.reason)});
  }
  blocks.push_back(std::move(table));
  return blocks;
}

}  // namespace

Result<Section> BuildLayerPrecisionSection(const ReportData& data) {
  Section section{"layer-precision", "Per-layer precision map", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(
      data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> { return LayerBlocks(run); }));
  return section;
}

}  // namespace fp4lab
