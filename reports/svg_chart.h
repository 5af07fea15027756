// Inline SVG renderings of the report's charts: self-contained markup (no scripts, fonts or external
// references), scaled by a viewBox so they shrink with the window. Fill colours come from the page's CSS
// classes s0..s5 (html_renderer.cc); every bar also carries its label and value as text and a <title>
// tooltip, so the chart reads without colour.
#pragma once

#include <string>

#include "engine/status.h"
#include "reports/report_document.h"

namespace fp4lab {

// One <svg> with a row per bar: label, bar (width proportional to value, zero at the left axis), value text,
// and a legend of the series. InvalidArgument if a value is negative or not finite, or a series index is out
// of range (the chart would lie).
Result<std::string> RenderBarChartSvg(const BarChart& chart);

// One <svg> with a column per bin (equal widths; the edge values label the x axis) and heights proportional
// to counts. InvalidArgument unless the bin count matches the edges (see Histogram), edges ascend and counts
// are finite and >= 0.
Result<std::string> RenderHistogramSvg(const Histogram& histogram);

// Text of bin i: "[0.001, 0.01)", or "< 1e-06" / "≥ 10" for the outer bins of an open-ended histogram.
// REQUIRES: the histogram is well-formed and i < counts.size().
std::string HistogramBinLabel(const Histogram& histogram, size_t i);

}  // namespace fp4lab
