// Renderings of a GateReport: JUnit XML (CI test views), a Markdown summary (CI job summaries, PR comments),
// a plain-text table (terminal) and JSON (machine-readable; `fp4lab report --gate FILE` reads it back).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/status.h"
#include "results/gate.h"

namespace fp4lab {

// JUnit XML: <testsuites> holding one <testsuite name="fp4lab-gate" tests failures errors skipped time
// timestamp>, one <testcase name="<rule name>" classname="fp4lab.gate.<task>" time="0"> per rule; a failed
// rule holds <failure message="<reason>" type="regression">, a rule that could not be evaluated holds
// <error message="<reason>" type="cannot-evaluate">. A setup error becomes a single test case "gate setup"
// with an <error>. `timestamp` is ISO 8601 UTC without zone ("2026-11-27T01:50:10"); empty omits it.
// All text is XML-escaped; characters XML 1.0 forbids become '?'.
std::string RenderGateJUnitXml(const GateReport& report, const std::string& timestamp);

// Markdown: a verdict line ("**Gate: FAIL**" with ✅/❌/⚠️ and the word), the runs compared, the counts, and
// a table with one row per rule: result, rule, check, observed, 95% interval, bound, reason.
std::string RenderGateMarkdown(const GateReport& report);

// Fixed-width text table for a terminal, same columns as the Markdown table.
std::string RenderGateText(const GateReport& report);

// Short texts shared by every rendering (and by the HTML report's verdict section):
std::string DescribeGateCheck(const GateRule& rule);     // "mmlu/nvfp4/acc · absolute vs reference (bf16) · point"
std::string DescribeGateBound(const GateRule& rule);     // "≥ -0.02", "≤ 1.05", "0.9 ≤ x ≤ 1.1"
std::string GateOutcomeLabel(GateOutcome outcome);       // "✅ pass" | "❌ fail" | "⚠️ error"
std::string GateVerdictLabel(const GateReport& report);  // "✅ PASS" | "❌ FAIL" | "⚠️ CANNOT EVALUATE"
std::string GateSummaryLine(const GateReport& report);   // "Run #5 vs baseline run #3 · 4 rules: 2 pass, ..."

// {"format": "fp4lab-gate", "version": 1, "exit_code", "setup_error", "run_id", "baseline_run_id",
//  "counts": {"pass", "fail", "error"}, "results": [{"rule": {...rule schema...}, "outcome", "reason",
//  "observed", "ci_low", "ci_high", "interval_method"}]} (absent numbers are null).
nlohmann::json GateReportToJson(const GateReport& report);

// Inverse of GateReportToJson. InvalidArgument naming `source` and the field on any mismatch.
Result<GateReport> GateReportFromJson(const nlohmann::json& doc, const std::string& source);

// Reads and parses a file written from GateReportToJson.
Result<GateReport> LoadGateReport(const std::string& path);

}  // namespace fp4lab
