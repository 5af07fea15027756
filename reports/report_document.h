// The report as data: sections of headings, paragraphs, tables and charts, built once from the store
// (report_builder.h) and rendered three ways (HTML, Markdown, JSON), so every format carries the same content.
// All strings are plain text, unescaped; each renderer escapes for its own syntax. No behaviour here.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace fp4lab {

// What a cell or paragraph says about quality. Renderers show it as a CSS class and, since colour is never the
// only signal, builders also put the word ("better", "worse", "fail") or a symbol (▲ ▼) into the text itself.
enum class Tone { kNeutral, kBetter, kWorse, kPass, kFail, kError, kMuted };

struct Cell {
  std::string text;             // formatted for reading, e.g. "61.2%", "+1.3 pp", "not measured"
  std::optional<double> value;  // the number behind the text (table sorting, JSON export)
  Tone tone = Tone::kNeutral;
};

struct Heading {  // a sub-heading inside a section (e.g. one per run)
  std::string text;
};

struct Paragraph {
  std::string text;
  Tone tone = Tone::kNeutral;
};

struct Table {
  std::string caption;
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;  // each row has columns.size() cells
};

struct Bar {
  std::string label;       // what the bar measures, e.g. "nvfp4 · prefill 512"
  double value = 0.0;      // >= 0, in the chart's unit
  std::string value_text;  // formatted value shown beside the bar, e.g. "1,234 tok/s"
  int series = 0;          // index into BarChart::series (fill colour + legend); label also names it
};

// Horizontal bars sharing one unit and a zero baseline.
struct BarChart {
  std::string title;
  std::string unit;                 // axis label, e.g. "tok/s", "bytes", "ms"
  std::vector<std::string> series;  // legend entries (usually precisions)
  std::vector<Bar> bars;
};

// Counts over fixed bins, edges ascending. Closed: counts.size() + 1 == edges.size(), bin i is
// [edges[i], edges[i+1]). Open-ended: counts.size() == edges.size() + 1, the first bin is below edges[0], the
// last at or above edges.back() (the runner's KLD histograms: an underflow and an overflow bin).
struct Histogram {
  std::string title;
  std::string x_label;
  std::vector<double> edges;
  std::vector<double> counts;
  bool open_ends = false;
};

using Block = std::variant<Heading, Paragraph, Table, BarChart, Histogram>;

struct Section {
  std::string id;  // stable anchor, one of ReportSectionIds()
  std::string title;
  bool measured = true;  // false: the section only says it was not measured in this run
  std::vector<Block> blocks;
};

struct ReportDocument {
  std::string title;
  std::vector<std::string> summary;  // lines under the title: source database, runs covered
  std::vector<Section> sections;
};

}  // namespace fp4lab
