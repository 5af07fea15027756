#include "results/gate_output.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "engine/file_util.h"
#include "results/text_escape.h"

namespace fp4lab {
namespace {

std::string Num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g", v);
  return buffer;
}

std::string OptionalNum(const std::optional<double>& v) { return v ? Num(*v) : "-"; }

std::string Interval(const GateRuleResult& r) {
  if (!r.ci_low || !r.ci_high) return "-";
  return "[" + Num(*r.ci_low) + ", " + Num(*r.ci_high) + "]";
}

}  // namespace

std::string DescribeGateBound(const GateRule& rule) {
  if (rule.min && rule.max) return Num(*rule.min) + " ≤ x ≤ " + Num(*rule.max);
  return rule.min ? "≥ " + Num(*rule.min) : "≤ " + Num(*rule.max);
}

// "mmlu/nvfp4/acc · delta vs reference (bf16) · statistical".
std::string DescribeGateCheck(const GateRule& rule) {
  std::string check = rule.task + "/" + rule.precision + "/" + rule.metric + " · " + GateKindName(rule.kind);
  if (rule.against == GateAgainst::kReference) check += " vs reference (" + rule.reference_precision + ")";
  if (rule.against == GateAgainst::kBaseline) check += " vs baseline";
  return check + " · " + GateModeName(rule.mode);
}

std::string GateOutcomeLabel(GateOutcome outcome) {
  switch (outcome) {
    case GateOutcome::kPass:
      return "✅ pass";
    case GateOutcome::kFail:
      return "❌ fail";
    case GateOutcome::kError:
      return "⚠️ error";
  }
  return "⚠️ error";
}

std::string GateVerdictLabel(const GateReport& report) {
  switch (GateExitCode(report)) {
    case 0:
      return "✅ PASS";
    case 1:
      return "❌ FAIL";
    default:
      return "⚠️ CANNOT EVALUATE";
  }
}

std::string GateSummaryLine(const GateReport& report) {
  std::string line = report.run_id ? "Run #" + std::to_string(*report.run_id) : "No run resolved";
  if (report.baseline_run_id) line += " vs baseline run #" + std::to_string(*report.baseline_run_id);
  const GateCounts counts = CountGateOutcomes(report);
  line += " · " + std::to_string(report.results.size()) + " rules: " + std::to_string(counts.pass) + " pass, " +
          std::to_string(counts.fail) + " fail, " + std::to_string(counts.error) + " error · exit code " +
          std::to_string(GateExitCode(report));
  for (const std::string& warning : report.warnings) line += " · WARNING: " + warning;
  return line;
}

namespace {

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\t':
        out += "&#9;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out += (u < 0x20) ? '?' : c;  // C0 controls are not allowed in XML 1.0
    }
  }
  return out;
}


std::vector<std::string> Row(const GateRuleResult& r) {
  return {GateOutcomeLabel(r.outcome), r.rule.name, DescribeGateCheck(r.rule), OptionalNum(r.observed), Interval(r),
          DescribeGateBound(r.rule),   r.reason};
}

const std::vector<std::string>& Columns() {
  static const std::vector<std::string> kColumns = {"Result",       "Rule",  "Check", "Observed",
                                                    "95% interval", "Bound", "Reason"};
  return kColumns;
}

// Display width in code points (enough for the ASCII-plus-symbols text used here).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

nlohmann::json OptionalJson(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

Status ReadOptionalNumber(const nlohmann::json& object, const std::string& key, const std::string& where,
                          std::optional<double>* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Status::Ok();
  if (!it->is_number()) return Status::InvalidArgument(where + ": \"" + key + "\" must be a number or null");
  *out = it->get<double>();
  return Status::Ok();
}

Status ReadOptionalId(const nlohmann::json& object, const std::string& key, const std::string& where,
                      std::optional<int64_t>* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Status::Ok();
  if (!it->is_number_integer()) return Status::InvalidArgument(where + ": \"" + key + "\" must be an integer or null");
  *out = it->get<int64_t>();
  return Status::Ok();
}

Status ReadText(const nlohmann::json& object, const std::string& key, const std::string& where, std::string* out) {
  auto it = object.find(key);
  if (it == object.end()) return Status::InvalidArgument(where + ": missing \"" + key + "\"");
  if (!it->is_string()) return Status::InvalidArgument(where + ": \"" + key + "\" must be a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Result<GateRuleResult> RuleResultFromJson(const nlohmann::json& item, const std::string& where) {
  if (!item.is_object()) return Status::InvalidArgument(where + ": expected an object");
  GateRuleResult result;
  auto rule = item.find("rule");
  if (rule == item.end()) return Status::InvalidArgument(where + ": missing \"rule\"");
  FP4LAB_ASSIGN_OR_RETURN(result.rule, ParseGateRule(*rule, where + ".rule"));
  std::string outcome;
  FP4LAB_RETURN_IF_ERROR(ReadText(item, "outcome", where, &outcome));
  if (outcome == "pass") {
    result.outcome = GateOutcome::kPass;
  } else if (outcome == "fail") {
    result.outcome = GateOutcome::kFail;
  } else if (outcome == "error") {
    result.outcome = GateOutcome::kError;
  } else {
    return Status::InvalidArgument(where + ": \"outcome\" is \"" + outcome + "\", expected pass, fail or error");
  }
  FP4LAB_RETURN_IF_ERROR(ReadText(item, "reason", where, &result.reason));
  FP4LAB_RETURN_IF_ERROR(ReadText(item, "interval_method", where, &result.interval_method));
  FP4LAB_RETURN_IF_ERROR(ReadOptionalNumber(item, "observed", where, &result.observed));
  FP4LAB_RETURN_IF_ERROR(ReadOptionalNumber(item, "ci_low", where, &result.ci_low));
  FP4LAB_RETURN_IF_ERROR(ReadOptionalNumber(item, "ci_high", where, &result.ci_high));
  return result;
}

}  // namespace

std::string RenderGateJUnitXml(const GateReport& report, const std::string& timestamp) {
  const GateCounts counts = CountGateOutcomes(report);
  const size_t tests = report.setup_error.empty() ? report.results.size() : 1;
  const std::string totals = " tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(counts.fail) +
                             "\" errors=\"" + std::to_string(counts.error) + "\"";
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"fp4lab-gate\"" + totals +
                    " time=\"0\">\n  <testsuite name=\"fp4lab-gate\"" + totals + " skipped=\"0\" time=\"0\"";
  if (!timestamp.empty()) xml += " timestamp=\"" + XmlEscape(timestamp) + "\"";
  xml += ">\n    <properties>\n";
  if (report.run_id) {
    xml += "      <property name=\"run_id\" value=\"" + std::to_string(*report.run_id) + "\"/>\n";
  }
  if (report.baseline_run_id) {
    xml += "      <property name=\"baseline_run_id\" value=\"" + std::to_string(*report.baseline_run_id) + "\"/>\n";
  }
  xml += "      <property name=\"exit_code\" value=\"" + std::to_string(GateExitCode(report)) + "\"/>\n";
  for (const std::string& warning : report.warnings) {
    xml += "      <property name=\"warning\" value=\"" + XmlEscape(warning) + "\"/>\n";
  }
  xml += "    </properties>\n";
  if (!report.setup_error.empty()) {
    xml += "    <testcase name=\"gate setup\" classname=\"fp4lab.gate\" time=\"0\">\n      <error message=\"" +
           XmlEscape(report.setup_error) + "\" type=\"cannot-evaluate\">" + XmlEscape(report.setup_error) +
           "</error>\n    </testcase>\n";
  }
  for (const GateRuleResult& r : report.results) {
    xml += "    <testcase name=\"" + XmlEscape(r.rule.name) + "\" classname=\"fp4lab.gate." + XmlEscape(r.rule.task) +
           "\" time=\"0\"";
    const std::string detail = DescribeGateCheck(r.rule) + "; bound " + DescribeGateBound(r.rule) + "; " + r.reason;
    if (r.outcome == GateOutcome::kPass) {
      xml += ">\n      <system-out>" + XmlEscape(detail) + "</system-out>\n    </testcase>\n";
    } else {
      const bool fail = r.outcome == GateOutcome::kFail;
      xml += std::string(">\n      <") + (fail ? "failure" : "error") + " message=\"" + XmlEscape(r.reason) +
             "\" type=\"" + (fail ? "regression" : "cannot-evaluate") + "\">" + XmlEscape(detail) + "</" +
             (fail ? "failure" : "error") + ">\n    </testcase>\n";
    }
  }
  xml += "  </testsuite>\n</testsuites>\n";
  return xml;
}

std::string RenderGateMarkdown(const GateReport& report) {
  std::string md =
      "### fp4lab gate: " + GateVerdictLabel(report) + "\n\n" + MarkdownEscape(GateSummaryLine(report)) + "\n\n";
  if (!report.setup_error.empty()) {
    md += "⚠️ **Cannot evaluate:** " + MarkdownEscape(report.setup_error) + "\n";
    return md;
  }
  md += "|";
  for (const std::string& column : Columns()) md += " " + column + " |";
  md += "\n|";
  for (size_t i = 0; i < Columns().size(); ++i) md += "---|";
  md += "\n";
  for (const GateRuleResult& r : report.results) {
    md += "|";
    for (const std::string& cell : Row(r)) md += " " + MarkdownEscape(cell) + " |";
    md += "\n";
  }
  return md;
}

std::string RenderGateText(const GateReport& report) {
  std::string text = "fp4lab gate: " + GateVerdictLabel(report) + "\n" + GateSummaryLine(report) + "\n";
  if (!report.setup_error.empty()) return text + "cannot evaluate: " + report.setup_error + "\n";
  std::vector<std::vector<std::string>> rows = {Columns()};
  for (const GateRuleResult& r : report.results) rows.push_back(Row(r));
  std::vector<size_t> widths(Columns().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - Width(row[i]) + 2, ' ');
    }
    text += line + "\n";
  }
  return text;
}

nlohmann::json GateReportToJson(const GateReport& report) {
  const GateCounts counts = CountGateOutcomes(report);
  nlohmann::json results = nlohmann::json::array();
  for (const GateRuleResult& r : report.results) {
    results.push_back({{"rule", GateRuleToJson(r.rule)},
                       {"outcome", GateOutcomeName(r.outcome)},
                       {"reason", r.reason},
                       {"observed", OptionalJson(r.observed)},
                       {"ci_low", OptionalJson(r.ci_low)},
                       {"ci_high", OptionalJson(r.ci_high)},
                       {"interval_method", r.interval_method}});
  }
  return {{"format", "fp4lab-gate"},
          {"version", 1},
          {"exit_code", GateExitCode(report)},
          {"setup_error", report.setup_error},
          {"run_id", report.run_id ? nlohmann::json(*report.run_id) : nlohmann::json()},
          {"baseline_run_id", report.baseline_run_id ? nlohmann::json(*report.baseline_run_id) : nlohmann::json()},
          {"counts", {{"pass", counts.pass}, {"fail", counts.fail}, {"error", counts.error}}},
          {"warnings", report.warnings},
          {"results", results}};
}

Result<GateReport> GateReportFromJson(const nlohmann::json& doc, const std::string& source) {
  if (!doc.is_object()) return Status::InvalidArgument(source + ": expected a JSON object (fp4lab gate output)");
  auto format = doc.find("format");
  if (format == doc.end() || *format != "fp4lab-gate") {
    return Status::InvalidArgument(source + ": \"format\" must be \"fp4lab-gate\" (written by fp4lab gate --json)");
  }
  auto version = doc.find("version");
  if (version == doc.end() || *version != 1) {
    return Status::InvalidArgument(source + ": \"version\" must be 1");
  }
  GateReport report;
  FP4LAB_RETURN_IF_ERROR(ReadText(doc, "setup_error", source, &report.setup_error));
  FP4LAB_RETURN_IF_ERROR(ReadOptionalId(doc, "run_id", source, &report.run_id));
  FP4LAB_RETURN_IF_ERROR(ReadOptionalId(doc, "baseline_run_id", source, &report.baseline_run_id));
  if (auto warnings = doc.find("warnings"); warnings != doc.end()) {  // absent in files of older fp4lab versions
    if (!warnings->is_array()) return Status::InvalidArgument(source + ": \"warnings\" must be an array of strings");
    for (const auto& w : *warnings) {
      if (!w.is_string()) return Status::InvalidArgument(source + ": \"warnings\" must be an array of strings");
      report.warnings.push_back(w.get<std::string>());
    }
  }
  auto results = doc.find("results");
  if (results == doc.end() || !results->is_array()) {
    return Status::InvalidArgument(source + ": \"results\" must be an array");
  }
  for (size_t i = 0; i < results->size(); ++i) {
    FP4LAB_ASSIGN_OR_RETURN(GateRuleResult r,
                            RuleResultFromJson((*results)[i], source + ": results[" + std::to_string(i) + "]"));
    report.results.push_back(std::move(r));
  }
  return report;
}

Result<GateReport> LoadGateReport(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::json doc, ReadJsonFile(path));
  return GateReportFromJson(doc, path);
}

}  // namespace fp4lab
