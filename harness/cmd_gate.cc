// `fp4lab gate`: evaluate regression rules over stored runs; exit 0 pass, 1 a rule failed, 2 cannot evaluate.
#include <ctime>
#include <iostream>
#include <memory>

#include "engine/file_util.h"
#include "harness/command.h"
#include "harness/flag_checks.h"
#include "results/gate.h"
#include "results/gate_output.h"

namespace fp4lab {

namespace {

struct GateFlags {
  std::string db = "results.sqlite";
  std::string rules;
  std::optional<int64_t> run;
  std::string baseline;
  std::string junit, markdown, json;
  bool allow_incomplete = false;
};

Status WriteText(const std::string& path, const std::string& text) {
  return WriteFileAtomically(path, [&](std::ostream& out) {
    out << text;
    return Status::Ok();
  });
}

Result<int> RunGateCommand(const GateFlags& f) {
  // Output folders are checked before evaluating: a gate whose report cannot be written exits 2 without a verdict,
  // rather than computing a verdict and then losing it to an I/O error.
  if (!f.junit.empty()) FP4LAB_RETURN_IF_ERROR(CheckOutputFile("--junit", f.junit));
  if (!f.markdown.empty()) FP4LAB_RETURN_IF_ERROR(CheckOutputFile("--markdown", f.markdown));
  if (!f.json.empty()) FP4LAB_RETURN_IF_ERROR(CheckOutputFile("--json", f.json));
  GateOptions options;
  options.run_id = f.run;
  options.baseline = f.baseline;
  options.allow_incomplete = f.allow_incomplete;
  GateReport report = RunGate(f.db, f.rules, options);
  std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  // Every output is written whatever the verdict, so CI pages show failures and errors too.
  if (!f.junit.empty()) FP4LAB_RETURN_IF_ERROR(WriteText(f.junit, RenderGateJUnitXml(report, stamp)));
  if (!f.markdown.empty()) FP4LAB_RETURN_IF_ERROR(WriteText(f.markdown, RenderGateMarkdown(report)));
  if (!f.json.empty()) FP4LAB_RETURN_IF_ERROR(WriteText(f.json, GateReportToJson(report).dump(2)));
  std::cerr << RenderGateText(report);
  return GateExitCode(report);
}

}  // namespace

Command AddGateCommand(CLI::App& root) {
  auto f = std::make_shared<GateFlags>();
  CLI::App* app = root.add_subcommand(
      "gate", "Check stored results against regression rules (docs/GATE.md). Exit 0 all rules pass, 1 a rule "
              "failed, 2 the gate cannot be evaluated (missing run or metric, malformed rules)");
  app->add_option("--db", f->db, "SQLite result file")->capture_default_str();
  app->add_option("--rules", f->rules, "Rules JSON (see docs/examples/gate.json)")->required();
  app->add_option("--run", f->run, "Candidate run id (default: newest complete run)");
  app->add_option("--baseline", f->baseline, "Baseline run id or tag for rules with \"against\": \"baseline\"");
  app->add_option("--junit", f->junit, "Write JUnit XML (one test case per rule)");
  app->add_option("--markdown", f->markdown, "Write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)");
  app->add_option("--json", f->json, "Write the result as JSON (for `fp4lab report --gate`)");
  app->add_flag("--allow-incomplete", f->allow_incomplete,
                "Evaluate a candidate or baseline run that is not complete (killed or still running); the outputs "
                "carry a warning. Without it such a run makes the gate exit 2");
  return {app, [f] { return RunGateCommand(*f); }};
}

}  // namespace fp4lab
