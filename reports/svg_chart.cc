#include "reports/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "reports/html_escape.h"
#include "reports/report_format.h"

namespace fp4lab {
namespace {

// Bar chart geometry, in viewBox units (one unit renders as one CSS pixel at full width).
constexpr double kWidth = 720.0;
constexpr double kLabelWidth = 250.0;  // label column, right-aligned against the axis
constexpr double kBarArea = 360.0;     // longest bar; the value text follows the bar end
constexpr double kRowHeight = 22.0;
constexpr double kBarHeight = 16.0;
constexpr double kTitleHeight = 26.0;
constexpr double kLegendHeight = 24.0;
constexpr size_t kMaxLabelChars = 38;

// Histogram geometry.
constexpr double kHistHeight = 260.0;
constexpr double kPlotLeft = 70.0;
constexpr double kPlotRight = 700.0;
constexpr double kPlotTop = 34.0;
constexpr double kPlotBottom = 200.0;
constexpr int kMaxEdgeLabels = 7;

constexpr int kSeriesColours = 6;  // CSS classes s0..s5

std::string Num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f", v);
  return buffer;
}

// Shortens long labels by code points so UTF-8 stays valid; the full label stays in the <title>.
std::string Shorten(const std::string& label) {
  size_t code_points = 0;
  for (size_t i = 0; i < label.size(); ++i) {
    if ((static_cast<unsigned char>(label[i]) & 0xC0) != 0x80 && ++code_points > kMaxLabelChars - 1) {
      return label.substr(0, i) + "…";
    }
  }
  return label;
}

std::string SvgOpen(double height, const std::string& title) {
  return "<svg class=\"chart\" viewBox=\"0 0 " + Num(kWidth) + " " + Num(height) + "\" role=\"img\" aria-label=\"" +
         HtmlEscape(title) + "\" preserveAspectRatio=\"xMinYMin meet\">" + "<title>" + HtmlEscape(title) + "</title>" +
         "<text class=\"chart-title\" x=\"4\" y=\"18\">" + HtmlEscape(title) + "</text>";
}

}  // namespace

Result<std::string> RenderBarChartSvg(const BarChart& chart) {
  double max_value = 0.0;
  for (const Bar& bar : chart.bars) {
    if (!std::isfinite(bar.value) || bar.value < 0) {
      return Status::InvalidArgument("chart \"" + chart.title + "\": bar \"" + bar.label + "\" has value " +
                                     FormatSignificant(bar.value) + ", expected a finite number >= 0");
    }
    if (bar.series < 0 || static_cast<size_t>(bar.series) >= std::max<size_t>(chart.series.size(), 1)) {
      return Status::InvalidArgument("chart \"" + chart.title + "\": bar \"" + bar.label + "\" names series " +
                                     std::to_string(bar.series) + " of " + std::to_string(chart.series.size()));
    }
    max_value = std::max(max_value, bar.value);
  }
  const double rows_height = kRowHeight * static_cast<double>(chart.bars.size());
  const double height = kTitleHeight + rows_height + kLegendHeight + 8.0;
  std::string svg = SvgOpen(height, chart.title);
  // Zero axis.
  svg += "<line class=\"axis\" x1=\"" + Num(kLabelWidth) + "\" y1=\"" + Num(kTitleHeight - 2) + "\" x2=\"" +
         Num(kLabelWidth) + "\" y2=\"" + Num(kTitleHeight + rows_height + 2) + "\"/>";
  for (size_t i = 0; i < chart.bars.size(); ++i) {
    const Bar& bar = chart.bars[i];
    const double y = kTitleHeight + kRowHeight * static_cast<double>(i);
    // A non-zero value always shows at least a hairline, so small bars are never invisible.
    double width = max_value > 0 ? kBarArea * bar.value / max_value : 0.0;
    if (bar.value > 0) width = std::max(width, 1.0);
    const std::string tooltip = HtmlEscape(bar.label + ": " + bar.value_text);
    svg += "<text class=\"bar-label\" x=\"" + Num(kLabelWidth - 6) + "\" y=\"" + Num(y + 13) +
           "\" text-anchor=\"end\">" + HtmlEscape(Shorten(bar.label)) + "</text>";
    svg += "<rect class=\"bar s" + std::to_string(bar.series % kSeriesColours) + "\" x=\"" + Num(kLabelWidth) +
           "\" y=\"" + Num(y + (kRowHeight - kBarHeight) / 2) + "\" width=\"" + Num(width) + "\" height=\"" +
           Num(kBarHeight) + "\"><title>" + tooltip + "</title></rect>";
    svg += "<text class=\"bar-value\" x=\"" + Num(kLabelWidth + width + 6) + "\" y=\"" + Num(y + 13) + "\">" +
           HtmlEscape(bar.value_text) + "</text>";
  }
  // Legend: one swatch + name per series, and the unit.
  double x = 4.0;
  const double legend_y = kTitleHeight + rows_height + 8.0;
  for (size_t s = 0; s < chart.series.size(); ++s) {
    svg += "<rect class=\"swatch s" + std::to_string(s % kSeriesColours) + "\" x=\"" + Num(x) + "\" y=\"" +
           Num(legend_y + 2) + "\" width=\"12\" height=\"12\"/>";
    svg += "<text class=\"legend\" x=\"" + Num(x + 16) + "\" y=\"" + Num(legend_y + 13) + "\">" +
           HtmlEscape(chart.series[s]) + "</text>";
    x += 28.0 + 7.0 * static_cast<double>(chart.series[s].size());
  }
  if (!chart.unit.empty()) {
    svg += "<text class=\"legend\" x=\"" + Num(kWidth - 4) + "\" y=\"" + Num(legend_y + 13) +
           "\" text-anchor=\"end\">unit: " + HtmlEscape(chart.unit) + "</text>";
  }
  svg += "</svg>";
  return svg;
}

std::string HistogramBinLabel(const Histogram& histogram, size_t i) {
  const size_t shift = histogram.open_ends ? 1 : 0;  // bin i starts at edge i - shift
  if (histogram.open_ends && i == 0) return "< " + FormatCompact(histogram.edges.front(), 4);
  if (histogram.open_ends && i + 1 == histogram.counts.size()) return "≥ " + FormatCompact(histogram.edges.back(), 4);
  return "[" + FormatCompact(histogram.edges[i - shift], 4) + ", " + FormatCompact(histogram.edges[i - shift + 1], 4) +
         ")";
}

Result<std::string> RenderHistogramSvg(const Histogram& histogram) {
  const std::string where = "histogram \"" + histogram.title + "\"";
  const size_t expected_edges = histogram.open_ends ? histogram.counts.size() - 1 : histogram.counts.size() + 1;
  if (histogram.counts.empty() || histogram.edges.empty() || histogram.edges.size() != expected_edges ||
      (!histogram.open_ends && histogram.edges.size() < 2)) {
    return Status::InvalidArgument(where + ": " + std::to_string(histogram.counts.size()) + " counts need " +
                                   std::to_string(expected_edges) + " bin edges" +
                                   (histogram.open_ends ? " (open-ended bins)" : "") + ", got " +
                                   std::to_string(histogram.edges.size()));
  }
  for (size_t i = 0; i + 1 < histogram.edges.size(); ++i) {
    if (!(histogram.edges[i] < histogram.edges[i + 1])) {
      return Status::InvalidArgument(where + ": bin edges must ascend; edge " + std::to_string(i + 1) + " is " +
                                     FormatSignificant(histogram.edges[i + 1]) + " after " +
                                     FormatSignificant(histogram.edges[i]));
    }
  }
  double max_count = 0.0;
  for (double count : histogram.counts) {
    if (!std::isfinite(count) || count < 0) {
      return Status::InvalidArgument(where + ": count " + FormatSignificant(count) + " is not a finite number >= 0");
    }
    max_count = std::max(max_count, count);
  }
  std::string svg = SvgOpen(kHistHeight, histogram.title);
  const size_t bins = histogram.counts.size();
  const double bin_width = (kPlotRight - kPlotLeft) / static_cast<double>(bins);
  const double plot_height = kPlotBottom - kPlotTop;
  svg += "<line class=\"axis\" x1=\"" + Num(kPlotLeft) + "\" y1=\"" + Num(kPlotBottom) + "\" x2=\"" + Num(kPlotRight) +
         "\" y2=\"" + Num(kPlotBottom) + "\"/>";
  svg += "<line class=\"axis\" x1=\"" + Num(kPlotLeft) + "\" y1=\"" + Num(kPlotTop) + "\" x2=\"" + Num(kPlotLeft) +
         "\" y2=\"" + Num(kPlotBottom) + "\"/>";
  svg += "<text class=\"tick\" x=\"" + Num(kPlotLeft - 6) + "\" y=\"" + Num(kPlotTop + 4) + "\" text-anchor=\"end\">" +
         HtmlEscape(FormatCount(max_count)) + "</text>";
  svg += "<text class=\"tick\" x=\"" + Num(kPlotLeft - 6) + "\" y=\"" + Num(kPlotBottom) +
         "\" text-anchor=\"end\">0</text>";
  for (size_t i = 0; i < bins; ++i) {
    double height = max_count > 0 ? plot_height * histogram.counts[i] / max_count : 0.0;
    if (histogram.counts[i] > 0) height = std::max(height, 1.0);
    const double x = kPlotLeft + bin_width * static_cast<double>(i);
    const std::string tooltip = HistogramBinLabel(histogram, i) + ": " + FormatCount(histogram.counts[i]);
    svg += "<rect class=\"bar s0\" x=\"" + Num(x + 0.5) + "\" y=\"" + Num(kPlotBottom - height) + "\" width=\"" +
           Num(std::max(bin_width - 1.0, 0.5)) + "\" height=\"" + Num(height) + "\"><title>" + HtmlEscape(tooltip) +
           "</title></rect>";
  }
  // Edge labels at bin boundaries (edge e sits at boundary e + 1 when the first bin is open): every step-th
  // edge, and always the last one.
  const size_t first_boundary = histogram.open_ends ? 1 : 0;
  const size_t edges = histogram.edges.size();
  const size_t step = std::max<size_t>(1, (edges + kMaxEdgeLabels - 1) / kMaxEdgeLabels);
  for (size_t e = 0; e < edges; e = (e + 1 < edges && e + step >= edges) ? edges - 1 : e + step) {
    const double x = kPlotLeft + bin_width * static_cast<double>(e + first_boundary);
    svg += "<text class=\"tick\" x=\"" + Num(x) + "\" y=\"" + Num(kPlotBottom + 16) + "\" text-anchor=\"middle\">" +
           HtmlEscape(FormatCompact(histogram.edges[e])) + "</text>";
    if (e + 1 == edges) break;
  }
  svg += "<text class=\"legend\" x=\"" + Num((kPlotLeft + kPlotRight) / 2) + "\" y=\"" + Num(kPlotBottom + 40) +
         "\" text-anchor=\"middle\">" + HtmlEscape(histogram.x_label) + "</text>";
  svg += "<text class=\"legend\" x=\"14\" y=\"" + Num((kPlotTop + kPlotBottom) / 2) + "\" transform=\"rotate(-90 14 " +
         Num((kPlotTop + kPlotBottom) / 2) + ")\" text-anchor=\"middle\">count</text>";
  svg += "</svg>";
  return svg;
}

}  // namespace fp4lab
