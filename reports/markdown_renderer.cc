#include "reports/markdown_renderer.h"

#include <algorithm>
#include <cmath>

#include "reports/report_format.h"
#include "reports/svg_chart.h"

namespace fp4lab {
namespace {

constexpr int kTextBarWidth = 24;  // characters of the longest text bar

std::string TextBar(double value, double max_value) {
  if (max_value <= 0 || value <= 0) return "";
  const int length = std::max(1, static_cast<int>(std::lround(kTextBarWidth * value / max_value)));
  std::string bar;
  for (int i = 0; i < length; ++i) bar += "█";
  return bar;
}

void AppendTableRows(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows,
                     std::string* out) {
  *out += "|";
  for (const std::string& column : columns) *out += " " + MarkdownEscape(column) + " |";
  *out += "\n|";
  for (size_t i = 0; i < columns.size(); ++i) *out += "---|";
  *out += "\n";
  for (const std::vector<std::string>& row : rows) {
    *out += "|";
    for (const std::string& cell : row) *out += " " + MarkdownEscape(cell) + " |";
    *out += "\n";
  }
  *out += "\n";
}

void AppendBlock(const Block& block, std::string* out) {
  if (const auto* heading = std::get_if<Heading>(&block)) {
    *out += "### " + MarkdownEscape(heading->text) + "\n\n";
  } else if (const auto* paragraph = std::get_if<Paragraph>(&block)) {
    *out += MarkdownEscape(paragraph->text) + "\n\n";
  } else if (const auto* table = std::get_if<Table>(&block)) {
    if (!table->caption.empty()) *out += "**" + MarkdownEscape(table->caption) + "**\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const std::vector<Cell>& row : table->rows) {
      std::vector<std::string> texts;
      for (const Cell& cell : row) texts.push_back(cell.text);
      rows.push_back(std::move(texts));
    }
    AppendTableRows(table->columns, rows, out);
  } else if (const auto* chart = std::get_if<BarChart>(&block)) {
    *out += "**" + MarkdownEscape(chart->title) + "**" +
            (chart->unit.empty() ? "" : " (unit: " + MarkdownEscape(chart->unit) + ")") + "\n\n";
    double max_value = 0;
    for (const Bar& bar : chart->bars) max_value = std::max(max_value, bar.value);
    std::vector<std::vector<std::string>> rows;
    for (const Bar& bar : chart->bars) rows.push_back({bar.label, bar.value_text, TextBar(bar.value, max_value)});
    AppendTableRows({"Item", "Value", "Bar"}, rows, out);
  } else if (const auto* histogram = std::get_if<Histogram>(&block)) {
    *out += "**" + MarkdownEscape(histogram->title) + "** (" + MarkdownEscape(histogram->x_label) + ")\n\n";
    double max_count = 0;
    for (double count : histogram->counts) max_count = std::max(max_count, count);
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < histogram->counts.size(); ++i) {
      rows.push_back({HistogramBinLabel(*histogram, i), FormatCount(histogram->counts[i]),
                      TextBar(histogram->counts[i], max_count)});
    }
    AppendTableRows({"Bin", "Count", "Bar"}, rows, out);
  }
}

}  // namespace


std::string RenderMarkdown(const ReportDocument& document) {
  std::string out = "# " + MarkdownEscape(document.title) + "\n\n";
  for (const std::string& line : document.summary) out += MarkdownEscape(line) + "  \n";
  out += "\n";
  for (const Section& section : document.sections) {
    out += "<a id=\"" + MarkdownEscape(section.id) + "\"></a>\n\n## " + MarkdownEscape(section.title) + "\n\n";
    for (const Block& block : section.blocks) AppendBlock(block, &out);
  }
  return out;
}

}  // namespace fp4lab
