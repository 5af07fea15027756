// `fp4lab report`: render stored runs as one self-contained HTML page (or Markdown / JSON).
#include <iostream>
#include <memory>

#include "harness/command.h"
#include "harness/flag_checks.h"
#include "reports/report.h"

namespace fp4lab {

namespace {

struct ReportFlags {
  std::string db = "results.sqlite";
  std::vector<int64_t> runs;
  std::string out = "report.html";
  std::string format = "html";
  std::string gate;
};

Result<int> RunReport(const ReportFlags& f) {
  ReportOptions options;
  options.db_path = f.db;
  options.run_ids = f.runs;
  options.out_path = f.out;
  options.gate_path = f.gate;
  FP4LAB_RETURN_IF_ERROR(CheckOutputFile("--out", f.out));
  FP4LAB_ASSIGN_OR_RETURN(options.format, ParseReportFormat(f.format));
  FP4LAB_RETURN_IF_ERROR(WriteReport(options));
  std::cerr << "wrote " << f.out << "\n";
  return 0;
}

}  // namespace

Command AddReportCommand(CLI::App& root) {
  auto f = std::make_shared<ReportFlags>();
  CLI::App* app = root.add_subcommand(
      "report", "Render runs as a self-contained HTML page (verdict, perplexity & fidelity, MMLU, HumanEval, latency "
                "& memory, layer map, devices, provenance); written atomically");
  app->add_option("--db", f->db, "SQLite result file")->capture_default_str();
  app->add_option("--runs", f->runs, "Run ids (default: newest complete run; several runs from different devices "
                                     "fill the device comparison)");
  app->add_option("--out", f->out, "Output file")->capture_default_str();
  app->add_option("--format", f->format, "html | md | json")->capture_default_str();
  app->add_option("--gate", f->gate, "Gate result written by `fp4lab gate --json FILE`, shown in the verdict");
  return {app, [f] { return RunReport(*f); }};
}

}  // namespace fp4lab
