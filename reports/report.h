// `fp4lab report`: loads runs from a result store, renders them as HTML, Markdown or JSON, and writes the file
// atomically (a temporary file in the same directory, flushed, fsynced and renamed over --out), so --out is
// either the complete new report or left exactly as it was; on any error nothing is written.
//
// Gate results: the report does not store or recompute them. `fp4lab gate ... --json gate.json` writes the
// gate's result, and `fp4lab report --gate gate.json` shows it in the verdict section (per rule, and as a
// column beside the metrics it judged) when it is for a run the report covers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

enum class ReportFormat { kHtml, kMarkdown, kJson };

// "html" | "md" (or "markdown") | "json"; InvalidArgument naming the accepted values otherwise.
Result<ReportFormat> ParseReportFormat(std::string_view name);

struct ReportOptions {
  std::string db_path;           // the result store, opened read-only
  std::vector<int64_t> run_ids;  // --runs; empty: the newest complete run
  std::string out_path = "report.html";
  ReportFormat format = ReportFormat::kHtml;
  std::string gate_path;  // --gate: a file written by `fp4lab gate --json`; empty: none
};

// Loads, builds and renders the report; writes nothing.
Result<std::string> RenderReport(const ReportOptions& options);

// RenderReport, then writes options.out_path atomically. REQUIRES: out_path non-empty.
Status WriteReport(const ReportOptions& options);

}  // namespace fp4lab
