#include "reports/json_renderer.h"

#include <cmath>

namespace fp4lab {
namespace {

// JSON has no NaN/Infinity: non-finite numbers are written as null.
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json BlockJson(const Block& block) {
  if (const auto* heading = std::get_if<Heading>(&block)) {
    return {{"type", "heading"}, {"text", heading->text}};
  }
  if (const auto* paragraph = std::get_if<Paragraph>(&block)) {
    return {{"type", "paragraph"}, {"text", paragraph->text}, {"tone", ToneName(paragraph->tone)}};
  }
  if (const auto* table = std::get_if<Table>(&block)) {
    nlohmann::json rows = nlohmann::json::array();
    for (const std::vector<Cell>& row : table->rows) {
      nlohmann::json cells = nlohmann::json::array();
      for (const Cell& cell : row) {
        nlohmann::json c = {{"text", cell.text}};
        if (cell.value) c["value"] = Number(*cell.value);
        if (cell.tone != Tone::kNeutral) c["tone"] = ToneName(cell.tone);
        cells.push_back(std::move(c));
      }
      rows.push_back(std::move(cells));
    }
    return {{"type", "table"}, {"caption", table->caption}, {"columns", table->columns}, {"rows", rows}};
  }
  if (const auto* chart = std::get_if<BarChart>(&block)) {
    nlohmann::json bars = nlohmann::json::array();
    for (const Bar& bar : chart->bars) {
      bars.push_back(
          {{"label", bar.label}, {"value", Number(bar.value)}, {"value_text", bar.value_text}, {"series", bar.series}});
    }
    return {{"type", "bar_chart"},
            {"title", chart->title},
            {"unit", chart->unit},
            {"series", chart->series},
            {"bars", bars}};
  }
  const auto& histogram = std::get<Histogram>(block);
  nlohmann::json edges = nlohmann::json::array();
  for (double edge : histogram.edges) edges.push_back(Number(edge));
  nlohmann::json counts = nlohmann::json::array();
  for (double count : histogram.counts) counts.push_back(Number(count));
  return {{"type", "histogram"}, {"title", histogram.title}, {"x_label", histogram.x_label},
          {"edges", edges},      {"counts", counts},         {"open_ends", histogram.open_ends}};
}

}  // namespace

const char* ToneName(Tone tone) {
  switch (tone) {
    case Tone::kNeutral:
      return "neutral";
    case Tone::kBetter:
      return "better";
    case Tone::kWorse:
      return "worse";
    case Tone::kPass:
      return "pass";
    case Tone::kFail:
      return "fail";
    case Tone::kError:
      return "error";
    case Tone::kMuted:
      return "muted";
  }
  return "neutral";
}

nlohmann::json RenderJson(const ReportDocument& document) {
  nlohmann::json sections = nlohmann::json::array();
  for (const Section& section : document.sections) {
    nlohmann::json blocks = nlohmann::json::array();
    for (const Block& block : section.blocks) blocks.push_back(BlockJson(block));
    sections.push_back(
        {{"id", section.id}, {"title", section.title}, {"measured", section.measured}, {"blocks", blocks}});
  }
  return {{"format", "fp4lab-report"},
          {"version", 1},
          {"title", document.title},
          {"summary", document.summary},
          {"sections", sections}};
}

}  // namespace fp4lab
