#include "reports/report.h"

#include <memory>

#include "engine/file_util.h"
#include "results/result_store.h"
#include "reports/html_renderer.h"
#include "reports/json_renderer.h"
#include "reports/markdown_renderer.h"
#include "reports/report_builder.h"
#include "reports/report_data.h"

namespace fp4lab {

Result<ReportFormat> ParseReportFormat(std::string_view name) {
  if (name == "html") return ReportFormat::kHtml;
  if (name == "md" || name == "markdown") return ReportFormat::kMarkdown;
  if (name == "json") return ReportFormat::kJson;
  return Status::InvalidArgument("--format: \"" + std::string(name) +
                                 "\" is not a report format; expected html, md or json");
}

Result<std::string> RenderReport(const ReportOptions& options) {
  FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<ResultStore> store, ResultStore::Open(options.db_path, OpenMode::kReadOnly));
  FP4LAB_ASSIGN_OR_RETURN(ReportData data, LoadReportData(*store, options.run_ids, options.gate_path));
  FP4LAB_ASSIGN_OR_RETURN(ReportDocument document, BuildReportDocument(data));
  switch (options.format) {
    case ReportFormat::kHtml:
      return RenderHtml(document);
    case ReportFormat::kMarkdown:
      return RenderMarkdown(document);
    case ReportFormat::kJson:
      // Invalid UTF-8 from the database is replaced rather than thrown on.
      return RenderJson(document).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return Status::Internal("report: unknown format");
}

Status WriteReport(const ReportOptions& options) {
  if (options.out_path.empty()) return Status::InvalidArgument("report: --out is empty; expected a file path");
  FP4LAB_ASSIGN_OR_RETURN(std::string text, RenderReport(options));
  return WriteFileAtomically(options.out_path, [&text](std::ostream& out) {
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    return Status::Ok();
  });
}

}  // namespace fp4lab
