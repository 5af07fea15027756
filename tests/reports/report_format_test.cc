// Unit tests of the report's building blocks: number formatting, escaping, and the SVG charts.
#include "reports/report_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "reports/html_escape.h"
#include "reports/markdown_renderer.h"
#include "reports/svg_chart.h"

namespace fp4lab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ReportFormatTest, SignificantDigits) {
  EXPECT_EQ(FormatSignificant(12.3456), "12.35");
  EXPECT_EQ(FormatSignificant(0.00123456), "0.001235");
  EXPECT_EQ(FormatSignificant(1234567.0), "1234567");
  EXPECT_EQ(FormatSignificant(0.0), "0");
  EXPECT_EQ(FormatSignificant(2.5e-5), "2.500e-05");
  EXPECT_EQ(FormatSignificant(-3.0), "-3.000");
  EXPECT_EQ(FormatSignedSignificant(0.25), "+0.2500");
  EXPECT_EQ(FormatSignedSignificant(-0.25), "-0.2500");
}

TEST(ReportFormatTest, UnitsAndProportions) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(5.72e9), "5.33 GiB");  // 5.72e9 / 2^30 = 5.327
  EXPECT_EQ(FormatMetricValue("acc", "", 0.6125), "61.25%");
  EXPECT_EQ(FormatMetricValue("acc_cat/stem", "", 0.5), "50.00%");
  EXPECT_EQ(FormatMetricValue("decode_tok_s@b1", "tok/s", 97.2), "97.20 tok/s");
  EXPECT_EQ(FormatMetricValue("weight_bytes", "bytes", 1024), "1.00 KiB");
  EXPECT_EQ(FormatMetricValue("token_ppl", "", 10.123456), "10.12");
  EXPECT_EQ(FormatMetricValue("same_top_p", "%", 94.7), "94.70%");  // the runner stores some metrics in %
  EXPECT_EQ(FormatStderr("kld_mean", "nats", 0.00123), "± 0.0012 nats");
  EXPECT_EQ(FormatDelta("acc", "", -0.03), "-3.00 pp");
  EXPECT_EQ(FormatDelta("ttft_ms", "ms", 12.5), "+12.50 ms");
  EXPECT_EQ(FormatDeltaInterval("acc", "", -0.052, 0.008), "[-5.20, +0.80] pp");
  EXPECT_EQ(FormatStderr("acc", "", 0.0217), "± 2.17%");
}

TEST(ReportFormatTest, ChangeLabelsCarryWordsAndSymbols) {
  EXPECT_EQ(ChangeLabel("better", -0.03, false), "▼ worse");
  EXPECT_EQ(ChangeLabel("better", 0.03, false), "▲ better");
  EXPECT_EQ(ChangeLabel("worse", 0.3, false), "▲ worse");  // perplexity went up
  EXPECT_EQ(ChangeLabel("worse", -0.3, true), "▼ better (within noise)");
  EXPECT_EQ(ChangeLabel("", 1.0, false), "▲ higher");
  EXPECT_EQ(ChangeLabel("better", 0.0, false), "= no change");
  EXPECT_EQ(ChangeTone("better", -0.03, false), Tone::kWorse);
  EXPECT_EQ(ChangeTone("better", -0.03, true), Tone::kNeutral);
  EXPECT_EQ(ChangeTone("worse", -1.0, false), Tone::kBetter);
}

TEST(ReportEscapeTest, HtmlAndMarkdown) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape(std::string("a\x01z", 3)), "a\xEF\xBF\xBDz");
  EXPECT_EQ(MarkdownEscape("a|b <script> *x* [l](u) `c`\nd"), "a\\|b &lt;script&gt; \\*x\\* \\[l\\](u) \\`c\\` d");
}

TEST(SvgChartTest, BarsScaleToTheLargestValueAndCarryText) {
  BarChart chart{"Decode <tok/s>",
                 "tok/s",
                 {"bf16", "nvfp4"},
                 {Bar{"b1 · bf16", 50.0, "50 tok/s", 0}, Bar{"b1 · nvfp4", 100.0, "100 tok/s", 1},
                  Bar{"b8 · nvfp4", 0.0, "0 tok/s", 1}}};
  auto svg = RenderBarChartSvg(chart);
  ASSERT_TRUE(svg.ok()) << svg.status().ToString();
  // Widths: the largest bar spans the bar area, the half-size bar half of it, zero stays zero.
  std::regex width_re("<rect class=\"bar s[0-9]\"[^>]* width=\"([0-9.]+)\"");
  std::vector<double> widths;
  for (auto it = std::sregex_iterator(svg->begin(), svg->end(), width_re); it != std::sregex_iterator(); ++it) {
    widths.push_back(std::stod((*it)[1]));
  }
  ASSERT_EQ(widths.size(), 3u);
  EXPECT_GT(widths[1], 0.0);
  EXPECT_DOUBLE_EQ(widths[0], widths[1] / 2);
  EXPECT_EQ(widths[2], 0.0);
  EXPECT_THAT(*svg, HasSubstr("Decode &lt;tok/s&gt;"));
  EXPECT_THAT(*svg, HasSubstr(">100 tok/s</text>"));
  EXPECT_THAT(*svg, HasSubstr(">nvfp4</text>"));  // legend names the series in words
  EXPECT_THAT(*svg, Not(HasSubstr("http")));
}

TEST(SvgChartTest, RejectsChartsThatWouldLie) {
  EXPECT_FALSE(RenderBarChartSvg(BarChart{"t", "", {"a"}, {Bar{"x", -1.0, "-1", 0}}}).ok());
  EXPECT_FALSE(RenderBarChartSvg(BarChart{"t", "", {"a"}, {Bar{"x", 1.0, "1", 3}}}).ok());
  EXPECT_FALSE(RenderHistogramSvg(Histogram{"h", "x", {0.0, 1.0}, {1.0, 2.0}}).ok());
  EXPECT_FALSE(RenderHistogramSvg(Histogram{"h", "x", {1.0, 0.0}, {1.0}}).ok());
  EXPECT_FALSE(RenderHistogramSvg(Histogram{"h", "x", {0.0, 1.0}, {-1.0}}).ok());
}

TEST(SvgChartTest, HistogramHeightsFollowCounts) {
  auto svg = RenderHistogramSvg(Histogram{"KLD", "nats", {0.0, 0.1, 1.0, 10.0}, {10.0, 5.0, 0.0}});
  ASSERT_TRUE(svg.ok()) << svg.status().ToString();
  std::regex height_re("<rect class=\"bar s0\"[^>]* height=\"([0-9.]+)\"");
  std::vector<double> heights;
  for (auto it = std::sregex_iterator(svg->begin(), svg->end(), height_re); it != std::sregex_iterator(); ++it) {
    heights.push_back(std::stod((*it)[1]));
  }
  ASSERT_EQ(heights.size(), 3u);
  EXPECT_GT(heights[0], 0.0);
  EXPECT_NEAR(heights[1], heights[0] / 2, 0.1);  // coordinates are printed with one decimal
  EXPECT_EQ(heights[2], 0.0);
  EXPECT_THAT(*svg, HasSubstr(">10</text>"));  // last edge labelled
}

TEST(SvgChartTest, OpenEndedHistogramLabelsOuterBins) {
  const Histogram open{"KLD", "nats", {0.01, 0.1}, {3.0, 2.0, 1.0}, /*open_ends=*/true};
  auto svg = RenderHistogramSvg(open);
  ASSERT_TRUE(svg.ok()) << svg.status().ToString();
  EXPECT_EQ(HistogramBinLabel(open, 0), "< 0.01");
  EXPECT_EQ(HistogramBinLabel(open, 1), "[0.01, 0.1)");
  EXPECT_EQ(HistogramBinLabel(open, 2), "≥ 0.1");
  EXPECT_THAT(*svg, HasSubstr("<title>≥ 0.1: 1</title>"));
  // Open-ended bins need counts = edges + 1.
  EXPECT_FALSE(RenderHistogramSvg(Histogram{"KLD", "nats", {0.01, 0.1}, {3.0, 2.0}, true}).ok());
}

}  // namespace
}  // namespace fp4lab
