// The gate on runs that are not complete (issue 19: a run killed half-way gated as PASS with nothing saying so).
// A killed candidate or baseline makes the gate unable to evaluate (exit 2) unless --allow-incomplete; with it,
// every output (text, Markdown, JSON, JUnit) carries the warning.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "results/gate.h"
#include "results/gate_output.h"
#include "results/gate_rules.h"
#include "reports/report_test_store.h"

namespace fp4lab {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::TestStore;

std::vector<GateRule> Rules(const std::string& against) {
  auto rules = ParseGateRules(nlohmann::json::parse(R"({"rules": [{"name": "floor", "task": "mmlu", "metric": "acc",
      "precision": "nvfp4", "kind": "absolute", "min": -0.5, "against": ")" + against + R"("}]})"),
                              "gate.json");
  EXPECT_TRUE(rules.ok()) << rules.status().ToString();
  return rules.ok() ? *rules : std::vector<GateRule>{};
}

class GateIncompleteTest : public ::testing::Test {
 protected:
  // A run holding mmlu/nvfp4/acc = 0.6, left with `status`.
  int64_t AddRun(RunStatus status, const std::string& tag = "") {
    const int64_t run = db_.AddRun(tag, status);
    db_.Metric(run, "mmlu", "nvfp4", "acc", 0.6, std::nullopt, 100, "", "better");
    db_.Commit();
    return run;
  }
  ScratchDir dir_;
  TestStore db_{dir_.File("results.sqlite")};
};

TEST_F(GateIncompleteTest, KilledCandidateCannotBeEvaluatedUnlessAllowed) {
  AddRun(RunStatus::kComplete);
  const int64_t killed = AddRun(RunStatus::kRunning);
  GateOptions options;
  options.run_id = killed;
  GateReport report = EvaluateGate(db_.store(), Rules("none"), options);
  EXPECT_EQ(report.setup_error, "candidate run " + std::to_string(killed) +
                                    " is incomplete: status running (killed, failed or still running); finish it "
                                    "with `fp4lab run --resume` or pass --allow-incomplete");
  EXPECT_TRUE(report.results.empty());
  EXPECT_EQ(GateExitCode(report), 2);
  EXPECT_THAT(RenderGateText(report), HasSubstr("is incomplete"));
  EXPECT_THAT(RenderGateJUnitXml(report, ""), HasSubstr("is incomplete"));
  EXPECT_THAT(GateReportToJson(report)["setup_error"].get<std::string>(), HasSubstr("is incomplete"));

  options.allow_incomplete = true;
  report = EvaluateGate(db_.store(), Rules("none"), options);
  EXPECT_TRUE(report.setup_error.empty()) << report.setup_error;
  EXPECT_EQ(GateExitCode(report), 0);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_THAT(report.warnings[0], HasSubstr("candidate run " + std::to_string(killed) + " is incomplete"));
  EXPECT_THAT(report.warnings[0], HasSubstr("--allow-incomplete"));
  EXPECT_THAT(RenderGateText(report), HasSubstr("WARNING: candidate run"));
  EXPECT_THAT(RenderGateMarkdown(report), HasSubstr("WARNING: candidate run"));
  EXPECT_THAT(RenderGateJUnitXml(report, ""), HasSubstr("<property name=\"warning\" value=\"candidate run"));
  const nlohmann::json json = GateReportToJson(report);
  EXPECT_EQ(json["warnings"], nlohmann::json::array({report.warnings[0]}));
  // The warning survives the JSON round trip that `report --gate` reads.
  auto back = GateReportFromJson(json, "gate.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->warnings, report.warnings);
}

TEST_F(GateIncompleteTest, FailedOrKilledBaselineCannotBeEvaluatedUnlessAllowed) {
  const int64_t failed = AddRun(RunStatus::kFailed);
  AddRun(RunStatus::kComplete);
  GateOptions options;
  options.baseline = std::to_string(failed);
  GateReport report = EvaluateGate(db_.store(), Rules("baseline"), options);
  EXPECT_THAT(report.setup_error, HasSubstr("baseline run " + std::to_string(failed) + " is incomplete: status failed"));
  EXPECT_EQ(GateExitCode(report), 2);
  options.allow_incomplete = true;
  report = EvaluateGate(db_.store(), Rules("baseline"), options);
  EXPECT_EQ(GateExitCode(report), 0) << report.setup_error;
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_THAT(report.warnings[0], HasSubstr("baseline run " + std::to_string(failed) + " is incomplete"));
}

TEST_F(GateIncompleteTest, CompleteRunsCarryNoWarning) {
  AddRun(RunStatus::kComplete);
  const GateReport report = EvaluateGate(db_.store(), Rules("none"), {});
  EXPECT_EQ(GateExitCode(report), 0);
  EXPECT_TRUE(report.warnings.empty());
  EXPECT_EQ(GateReportToJson(report)["warnings"], nlohmann::json::array());
}

}  // namespace
}  // namespace fp4lab
