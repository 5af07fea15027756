// The report rendered from a real result store: every section present, "not measured" for absent data, no
// external references, escaping of hostile database strings, the same content in HTML, Markdown and JSON,
// KLD histograms summed from the samples, the device comparison and the gate verdict.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include "results/gate.h"
#include "results/gate_output.h"
#include "reports/html_escape.h"
#include "reports/markdown_renderer.h"
#include "reports/report.h"
#include "reports/report_format.h"
#include "reports/report_builder.h"
#include "reports/report_fixture.h"

namespace fp4lab {
namespace {

using testing::FillFixture;
using testing::FixtureRuns;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ScratchDir;
using testing::TestStore;

class ReportRenderTest : public ::testing::Test {
 protected:
  void SetUp() override { runs_ = FillFixture(db_); }

  std::string Render(ReportFormat format, std::vector<int64_t> runs, const std::string& gate = "") {
    ReportOptions options;
    options.db_path = db_path_;
    options.run_ids = std::move(runs);
    options.format = format;
    options.gate_path = gate;
    Result<std::string> text = RenderReport(options);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? *text : "";
  }

  ScratchDir dir_;
  std::string db_path_ = dir_.File("results.sqlite");
  TestStore db_{db_path_};
  FixtureRuns runs_;
};

// The HTML between <section id="id"> and its </section>.
std::string SectionHtml(const std::string& html, const std::string& id) {
  const std::string open = "<section id=\"" + id + "\">";
  const size_t start = html.find(open);
  if (start == std::string::npos) return "";
  return html.substr(start, html.find("</section>", start) - start);
}

TEST_F(ReportRenderTest, EverySectionPresentOnce) {
  const std::string html = Render(ReportFormat::kHtml, {runs_.full});
  for (const std::string& id : ReportSectionIds()) {
    const std::string open = "<section id=\"" + id + "\">";
    const size_t first = html.find(open);
    ASSERT_NE(first, std::string::npos) << id;
    EXPECT_EQ(html.find(open, first + 1), std::string::npos) << id << " appears twice";
    EXPECT_THAT(SectionHtml(html, id), Not(HasSubstr("Not measured in this run."))) << id;
  }
}

TEST_F(ReportRenderTest, DiffusionSectionShowsItsTasksWithTheirStoredConventions) {
  const std::string html = SectionHtml(Render(ReportFormat::kHtml, {runs_.full}), "diffusion");
  EXPECT_THAT(html, HasSubstr("MMLU, generative. Convention: lmeval."));
  EXPECT_THAT(html, HasSubstr("Denoiser fidelity. Convention: lmeval."));
  EXPECT_THAT(html, HasSubstr("step2/kld_mean"));
  EXPECT_THAT(html, HasSubstr("exact_match"));
  EXPECT_THAT(html, Not(HasSubstr("exact_match/anatomy")));  // per-subject rows stay out of the overview
  EXPECT_THAT(html, Not(HasSubstr("Block-diffusion latency")));  // the fixture's latency is a causal model's
}

TEST_F(ReportRenderTest, PerplexityOnlyRunSaysNotMeasuredElsewhere) {
  const std::string html = Render(ReportFormat::kHtml, {runs_.second});
  for (const std::string id : {"mmlu", "humaneval", "diffusion", "latency", "memory", "layer-precision"}) {
    EXPECT_THAT(SectionHtml(html, id), HasSubstr("Not measured in this run.")) << id;
  }
  EXPECT_THAT(SectionHtml(html, "perplexity-fidelity"), HasSubstr("token_ppl"));
  EXPECT_THAT(SectionHtml(html, "verdict"), HasSubstr("token_ppl"));
  const nlohmann::json json = nlohmann::json::parse(Render(ReportFormat::kJson, {runs_.second}));
  for (const auto& section : json["sections"]) {
    const bool expected = section["id"] == "verdict" || section["id"] == "perplexity-fidelity" ||
                          section["id"] == "devices" || section["id"] == "provenance";
    EXPECT_EQ(section["measured"], expected) << section["id"];
  }
}

TEST_F(ReportRenderTest, SelfContainedWithoutExternalReferences) {
  const std::string html = Render(ReportFormat::kHtml, {runs_.full, runs_.second});
  std::regex ref_re(R"re(\b(src|href|xlink:href|action|srcset|poster|data)\s*=\s*["']?([^"' >]*))re",
                    std::regex::icase);
  int hrefs = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref_re); it != std::sregex_iterator(); ++it) {
    const std::string attribute = (*it)[1];
    const std::string target = (*it)[2];
    EXPECT_EQ(attribute, "href") << "unexpected " << attribute << "=" << target;
    EXPECT_EQ(target.rfind('#', 0), 0u) << attribute << "=" << target << " is not a same-page anchor";
    EXPECT_EQ(target.find("//"), std::string::npos) << target;
    ++hrefs;
  }
  EXPECT_EQ(hrefs, static_cast<int>(ReportSectionIds().size()));  // the table of contents
  EXPECT_THAT(html, Not(HasSubstr("http")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  for (const char* tag : {"<link", "<img", "<iframe", "<object", "<embed", "<base"}) {
    EXPECT_THAT(html, Not(HasSubstr(tag))) << tag;
  }
  // One inline script (table sorting), no external one; print and narrow-window styles are present.
  EXPECT_EQ(html.find("<script"), html.rfind("<script"));
  EXPECT_THAT(html, HasSubstr("<script>"));
  EXPECT_THAT(html, HasSubstr("@media print"));
  EXPECT_THAT(html, HasSubstr("@media (max-width"));
  EXPECT_THAT(html, HasSubstr("overflow-x:auto"));
}

TEST_F(ReportRenderTest, EscapesHostileDatabaseText) {
  const std::string html = Render(ReportFormat::kHtml, {runs_.full});
  EXPECT_THAT(html, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(html, Not(HasSubstr("<b>not</b>")));
  EXPECT_THAT(html, HasSubstr(HtmlEscape(testing::kHostileModelPath)));
  EXPECT_THAT(html, HasSubstr(HtmlEscape(testing::kHostileReason)));
  EXPECT_THAT(html, HasSubstr("fp4lab run --model &#39;&lt;script&gt;&#39;"));
  // Exactly one <script> element: ours.
  size_t count = 0;
  for (size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1)) ++count;
  EXPECT_EQ(count, 1u);

  const std::string md = Render(ReportFormat::kMarkdown, {runs_.full});
  EXPECT_THAT(md, Not(HasSubstr("<script>")));
  EXPECT_THAT(md, Not(HasSubstr("<b>")));
  EXPECT_THAT(md, HasSubstr(MarkdownEscape(testing::kHostileReason)));

  const nlohmann::json json = nlohmann::json::parse(Render(ReportFormat::kJson, {runs_.full}));
  EXPECT_EQ(json["title"], std::string("fp4lab report: ") + testing::kHostileModelPath);  // JSON keeps raw text
}

// Every table cell, caption, paragraph and chart bar of the JSON document appears in the HTML and the
// Markdown, each escaped for its syntax: the three formats carry the same content.
TEST_F(ReportRenderTest, AllFormatsCarryTheSameContent) {
  const std::vector<int64_t> both = {runs_.full, runs_.second};
  const std::string html = Render(ReportFormat::kHtml, both);
  const std::string md = Render(ReportFormat::kMarkdown, both);
  const nlohmann::json json = nlohmann::json::parse(Render(ReportFormat::kJson, both));
  ASSERT_EQ(json["sections"].size(), ReportSectionIds().size());
  int checked = 0;
  auto expect_in_both = [&](const std::string& text) {
    EXPECT_THAT(html, HasSubstr(HtmlEscape(text)));
    EXPECT_THAT(md, HasSubstr(MarkdownEscape(text)));
    ++checked;
  };
  for (size_t i = 0; i < ReportSectionIds().size(); ++i) {
    const auto& section = json["sections"][i];
    EXPECT_EQ(section["id"], ReportSectionIds()[i]);
    EXPECT_THAT(md, HasSubstr("<a id=\"" + ReportSectionIds()[i] + "\"></a>"));
    for (const auto& block : section["blocks"]) {
      if (block["type"] == "paragraph" || block["type"] == "heading") expect_in_both(block["text"]);
      if (block["type"] == "table") {
        expect_in_both(block["caption"]);
        for (const auto& column : block["columns"]) expect_in_both(column);
        for (const auto& row : block["rows"]) {
          EXPECT_EQ(row.size(), block["columns"].size());
          for (const auto& cell : row) expect_in_both(cell["text"]);
        }
      }
      if (block["type"] == "bar_chart") {
        for (const auto& bar : block["bars"]) {
          expect_in_both(bar["value_text"]);
          EXPECT_THAT(md, HasSubstr(MarkdownEscape(bar["label"].get<std::string>())));
        }
      }
    }
  }
  EXPECT_GT(checked, 200);
}

// The histogram is the element-wise sum of the per-sample counts the fixture stored.
TEST_F(ReportRenderTest, KldHistogramSumsSampleCounts) {
  const nlohmann::json json = nlohmann::json::parse(Render(ReportFormat::kJson, {runs_.full}));
  std::vector<double> expected(testing::FixtureKldCounts(0).size(), 0.0);
  for (int s = 0; s < testing::kFixtureFidelitySamples; ++s) {
    const std::vector<double> counts = testing::FixtureKldCounts(s);
    for (size_t i = 0; i < counts.size(); ++i) expected[i] += counts[i];
  }
  int histograms = 0;
  for (const auto& section : json["sections"]) {
    for (const auto& block : section["blocks"]) {
      if (block["type"] != "histogram") continue;
      ++histograms;
      EXPECT_EQ(section["id"], "perplexity-fidelity");
      EXPECT_EQ(block["edges"].get<std::vector<double>>(), testing::FixtureKldEdges());
      EXPECT_EQ(block["counts"].get<std::vector<double>>(), expected);  // sums of small integers: exact
      EXPECT_EQ(block["open_ends"], true);
    }
  }
  EXPECT_EQ(histograms, 1);
  // The HTML draws it as one <rect> per bin inside an <svg>.
  const std::string fidelity = SectionHtml(Render(ReportFormat::kHtml, {runs_.full}), "perplexity-fidelity");
  EXPECT_THAT(fidelity, HasSubstr("<svg class=\"chart\""));
  EXPECT_THAT(fidelity, HasSubstr("KLD per token, nvfp4 vs bf16 (400 tokens)"));
  EXPECT_THAT(fidelity, HasSubstr("+0.03210</td><td>[+0.02520, +0.03900]</td><td>paired_bootstrap</td>"));
  EXPECT_THAT(fidelity, HasSubstr("<title>&lt; 0.0001: 166</title>"));  // underflow bin: 40+41+42+43
  EXPECT_THAT(fidelity, HasSubstr("<title>≥ 1: 8</title>"));            // overflow bin: 4 x 2
  EXPECT_THAT(fidelity, HasSubstr(">94.70%</text>"));                   // top-1 agreement bar, stored in %
}

TEST(ReportHistogramTest, MissingHistogramsAreExplained) {
  ScratchDir dir;
  TestStore db(dir.File("results.sqlite"));
  const FixtureRuns runs = FillFixture(db, /*with_kld_hist=*/false);
  ReportOptions options;
  options.db_path = dir.File("results.sqlite");
  options.run_ids = {runs.full};
  auto html = RenderReport(options);
  ASSERT_TRUE(html.ok()) << html.status().ToString();
  const std::string fidelity = SectionHtml(*html, "perplexity-fidelity");
  EXPECT_THAT(fidelity, HasSubstr("KLD histogram for nvfp4 not shown"));
  EXPECT_THAT(fidelity, HasSubstr("kld_mean"));  // the statistics still render
}

TEST_F(ReportRenderTest, VerdictShowsDeltasDirectionsAndPaths) {
  const std::string verdict = SectionHtml(Render(ReportFormat::kHtml, {runs_.full}), "verdict");
  EXPECT_THAT(verdict, HasSubstr("-3.00 pp"));                    // acc 0.59 - 0.62
  EXPECT_THAT(verdict, HasSubstr("[-5.20, -0.80] pp · p=0.04"));  // stored paired interval
  EXPECT_THAT(verdict, HasSubstr("▼ worse"));                     // colour is not the only signal
  EXPECT_THAT(verdict, HasSubstr("▼ better"));                    // ttft went down
  EXPECT_THAT(verdict, HasSubstr("come from the emulated path: no FP4 tensor cores on CPU"));
  EXPECT_THAT(verdict, HasSubstr("class=\"num tone-worse\""));
}

TEST_F(ReportRenderTest, DeviceComparisonHasAColumnPerDevice) {
  const nlohmann::json json = nlohmann::json::parse(Render(ReportFormat::kJson, {runs_.full, runs_.second}));
  const auto& devices = json["sections"][static_cast<size_t>(
      std::find(ReportSectionIds().begin(), ReportSectionIds().end(), "devices") - ReportSectionIds().begin())];
  ASSERT_EQ(devices["id"], "devices");
  const auto& paths = devices["blocks"][0];
  ASSERT_EQ(paths["type"], "table");
  ASSERT_EQ(paths["columns"].size(), 3u);
  EXPECT_THAT(paths["columns"][1].get<std::string>(), HasSubstr("CPU (x86_64)"));
  EXPECT_THAT(paths["columns"][2].get<std::string>(), HasSubstr("NVIDIA H100 80GB HBM3"));
  std::map<std::string, std::vector<std::string>> cells;
  for (const auto& row : paths["rows"]) {
    cells[row[0]["text"]] = {row[1]["text"], row[2]["text"]};
  }
  EXPECT_EQ(cells["nvfp4"], (std::vector<std::string>{"emulated", "weight-only"}));
  EXPECT_EQ(cells["nvfp4-w4a16"], (std::vector<std::string>{"weight-only", "not measured"}));
  EXPECT_EQ(cells["fp8"], (std::vector<std::string>{"measured, path not recorded", "not measured"}));
  EXPECT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells["bf16"], (std::vector<std::string>{"reference (bf16)", "reference (bf16)"}));
}

// harness/runner.cc records each precision's weights and the peak memory while it was the one model resident.
TEST_F(ReportRenderTest, DeviceSectionShowsTheMemoryOfEachPrecision) {
  const nlohmann::json json = nlohmann::json::parse(Render(ReportFormat::kJson, {runs_.full}));
  const auto& devices = json["sections"][static_cast<size_t>(
      std::find(ReportSectionIds().begin(), ReportSectionIds().end(), "devices") - ReportSectionIds().begin())];
  ASSERT_EQ(devices["id"], "devices");
  const nlohmann::json* memory = nullptr;
  for (const auto& block : devices["blocks"]) {
    if (block.value("caption", "").starts_with("Memory while each precision ran")) memory = &block;
  }
  ASSERT_NE(memory, nullptr) << devices.dump();
  ASSERT_EQ(memory->at("rows").size(), 2u);
  const auto& bf16 = memory->at("rows")[0];
  EXPECT_EQ(bf16[1]["text"], "bf16");
  EXPECT_EQ(bf16[2]["text"], FormatBytes(2147483648.0));
  EXPECT_EQ(bf16[3]["text"], FormatBytes(3221225472.0));
  EXPECT_EQ(bf16[4]["text"], "host peak RSS");
  const auto& nvfp4 = memory->at("rows")[1];
  EXPECT_EQ(nvfp4[1]["text"], "nvfp4");
  EXPECT_EQ(nvfp4[2]["text"], FormatBytes(603979776.0));
  EXPECT_EQ(nvfp4[3]["text"], "not measured");  // no peak figure recorded for it
}

TEST_F(ReportRenderTest, HumanEvalListsFlippedProblems) {
  const std::string section = SectionHtml(Render(ReportFormat::kHtml, {runs_.full}), "humaneval");
  EXPECT_THAT(section, HasSubstr("on 5 shared problems: 2 regressions (▼ pass rate down), 1 fix (▲ pass rate up), "
                                 "2 unchanged."));
  EXPECT_THAT(section, HasSubstr("<td>HumanEval/0</td><td>passed</td><td>failed</td>"));
  EXPECT_THAT(section, HasSubstr("<td>HumanEval/4</td><td>2/2 passed</td><td>1/2 passed</td>"));
  EXPECT_THAT(section, HasSubstr("<td>HumanEval/2</td><td>failed</td><td>passed</td>"));
  EXPECT_THAT(section, Not(HasSubstr("HumanEval/1<")));  // passed under both: not a flip
  EXPECT_THAT(section, Not(HasSubstr("HumanEval/3<")));  // failed -> timed_out: still not passed
}

TEST_F(ReportRenderTest, GateResultsAppearInTheVerdict) {
  const std::string rules = dir_.File("gate.json");
  testing::WriteAll(rules, R"({"rules": [
      {"name": "acc drop", "task": "mmlu", "metric": "acc", "precision": "nvfp4", "against": "reference",
       "kind": "absolute", "min": -0.02},
      {"name": "decode speedup", "task": "latency", "metric": "decode_tok_s@b1", "precision": "nvfp4",
       "against": "reference", "kind": "ratio", "min": 1.5}]})");
  GateOptions options;
  options.run_id = runs_.full;
  const GateReport gate = RunGate(db_path_, rules, options);
  ASSERT_EQ(GateExitCode(gate), 1);
  const std::string gate_json = dir_.File("gate_result.json");
  testing::WriteAll(gate_json, GateReportToJson(gate).dump());
  const std::string verdict = SectionHtml(Render(ReportFormat::kHtml, {runs_.full}, gate_json), "verdict");
  EXPECT_THAT(verdict, HasSubstr("Gate: ❌ FAIL"));
  EXPECT_THAT(verdict, HasSubstr("decode speedup"));
  EXPECT_THAT(verdict, HasSubstr("<caption>Gate rules</caption>"));
  EXPECT_THAT(verdict, HasSubstr("class=\"tone-fail\">❌ fail</td>"));
  // A gate result for another run is reported as such, not mixed into this run's table.
  const std::string other = SectionHtml(Render(ReportFormat::kHtml, {runs_.second}, gate_json), "verdict");
  EXPECT_THAT(other, HasSubstr("which this report does not cover"));
  EXPECT_THAT(other, Not(HasSubstr("<caption>Gate rules</caption>")));
}

TEST_F(ReportRenderTest, DefaultsToTheNewestCompleteRun) {
  const std::string html = Render(ReportFormat::kHtml, {});
  EXPECT_THAT(html, HasSubstr("Run #" + std::to_string(runs_.second)));
  EXPECT_THAT(html, Not(HasSubstr("Run #" + std::to_string(runs_.full) + " ")));
}

TEST(ReportOptionsTest, ParsesFormats) {
  EXPECT_EQ(*ParseReportFormat("html"), ReportFormat::kHtml);
  EXPECT_EQ(*ParseReportFormat("md"), ReportFormat::kMarkdown);
  EXPECT_EQ(*ParseReportFormat("json"), ReportFormat::kJson);
  auto bad = ParseReportFormat("pdf");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("html, md or json"));
}

}  // namespace
}  // namespace fp4lab
