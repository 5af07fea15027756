// WriteReport's atomic-write contract: --out is either the complete new report or exactly what it was before;
// no partial or temporary file is ever left behind. Also writes the sample report the browser test opens.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "reports/report.h"
#include "reports/report_fixture.h"

namespace fp4lab {
namespace {

using testing::FillFixture;
using testing::FixtureRuns;
using ::testing::HasSubstr;
using testing::ReadAll;
using testing::ScratchDir;
using testing::TestStore;

std::vector<std::string> Entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class ReportWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runs_ = FillFixture(db_);
    std::filesystem::create_directories(out_dir_);
    options_.db_path = db_path_;
    options_.run_ids = {runs_.full};
    options_.out_path = (out_dir_ / "report.html").string();
  }

  ScratchDir dir_;
  std::string db_path_ = dir_.File("results.sqlite");
  TestStore db_{db_path_};
  FixtureRuns runs_;
  std::filesystem::path out_dir_ = dir_.path() / "out";
  ReportOptions options_;
};

TEST_F(ReportWriteTest, WritesTheRenderedReport) {
  ASSERT_TRUE(WriteReport(options_).ok());
  auto rendered = RenderReport(options_);
  ASSERT_TRUE(rendered.ok());
  EXPECT_EQ(ReadAll(options_.out_path), *rendered);
  EXPECT_EQ(Entries(out_dir_), std::vector<std::string>{"report.html"});
  // Markdown and JSON go through the same path.
  options_.format = ReportFormat::kJson;
  options_.out_path = (out_dir_ / "report.json").string();
  ASSERT_TRUE(WriteReport(options_).ok());
  EXPECT_TRUE(nlohmann::json::accept(ReadAll(options_.out_path)));
}

TEST_F(ReportWriteTest, UnwritableDirectoryLeavesNothing) {
  // A missing directory, and a "directory" that is a regular file (works even as root, unlike chmod).
  options_.out_path = (out_dir_ / "missing" / "report.html").string();
  Status status = WriteReport(options_);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_THAT(status.message(), HasSubstr("report.html"));
  EXPECT_FALSE(std::filesystem::exists(out_dir_ / "missing"));
  testing::WriteAll((out_dir_ / "file").string(), "x");
  options_.out_path = (out_dir_ / "file" / "report.html").string();
  EXPECT_FALSE(WriteReport(options_).ok());
  EXPECT_EQ(Entries(out_dir_), std::vector<std::string>{"file"});
}

TEST_F(ReportWriteTest, RenderErrorLeavesThePreviousFileIntact) {
  ASSERT_TRUE(WriteReport(options_).ok());
  const std::string before = ReadAll(options_.out_path);
  ASSERT_FALSE(before.empty());
  // A fidelity sample whose histogram does not match its bin edges: the report cannot draw it honestly.
  db_.Samples({testing::MakeSample(runs_.full, "fidelity", "nvfp4", "doc9/win0", 0.0, "",
                                   {{"kld_hist", {1, 2, 3}}, {"kld_bin_edges", {0.0, 1.0}}})});
  Status status = WriteReport(options_);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("doc9/win0"));
  EXPECT_EQ(ReadAll(options_.out_path), before);
  EXPECT_EQ(Entries(out_dir_), std::vector<std::string>{"report.html"});
}

TEST_F(ReportWriteTest, LoadErrorsLeaveThePreviousFileIntact) {
  ASSERT_TRUE(WriteReport(options_).ok());
  const std::string before = ReadAll(options_.out_path);
  ReportOptions missing_run = options_;
  missing_run.run_ids = {999};
  EXPECT_EQ(WriteReport(missing_run).code(), StatusCode::kNotFound);
  ReportOptions bad_gate = options_;
  bad_gate.gate_path = dir_.File("gate.json");
  testing::WriteAll(bad_gate.gate_path, "{\"format\": \"fp4lab-gate\"");
  Status gate_status = WriteReport(bad_gate);
  EXPECT_EQ(gate_status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(gate_status.message(), HasSubstr("gate.json"));
  ReportOptions missing_db = options_;
  missing_db.db_path = dir_.File("nope.sqlite");
  EXPECT_FALSE(WriteReport(missing_db).ok());
  EXPECT_EQ(ReadAll(options_.out_path), before);
  EXPECT_EQ(Entries(out_dir_), std::vector<std::string>{"report.html"});
}

// Writes the two-run fixture report to <build>/tests/reports/sample_report.html for browser_test.py
// (CTest runs this first, as the fixture setup of the browser test).
TEST(SampleReportTest, WritesFullReportForBrowserTest) {
  ScratchDir dir;
  TestStore db(dir.File("results.sqlite"));
  const FixtureRuns runs = FillFixture(db);
  const std::filesystem::path out_dir = std::filesystem::path(FP4LAB_BINARY_DIR) / "tests" / "reports";
  std::filesystem::create_directories(out_dir);
  ReportOptions options;
  options.db_path = dir.File("results.sqlite");
  options.run_ids = {runs.full, runs.second};
  options.out_path = (out_dir / "sample_report.html").string();
  Status status = WriteReport(options);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_THAT(ReadAll(options.out_path), HasSubstr("</html>"));
}

}  // namespace
}  // namespace fp4lab
