// `fp4lab samples`: dump per-sample rows of a run, like lm-evaluation-harness's samples files.
#include <cstdio>
#include <iostream>
#include <memory>

#include "harness/command.h"
#include "harness/run_selection.h"

namespace fp4lab {

namespace {

struct SamplesFlags {
  std::string db = "results.sqlite";
  std::optional<int64_t> run;
  std::string task, precision;
  bool json = false;
};

Result<int> RunSamples(const SamplesFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(auto store, ResultStore::Open(f.db, OpenMode::kReadOnly));
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, SelectRun(*store, f.run));
  FP4LAB_ASSIGN_OR_RETURN(auto samples, store->ListSamples(run.id, f.task, f.precision));
  for (const auto& s : samples) {
    if (f.json) {
      nlohmann::json j = {{"run", s.run_id},     {"task", s.task},       {"precision", s.precision},
                          {"sample_id", s.sample_id}, {"score", s.score}, {"outcome", s.outcome},
                          {"prompt_sha256", s.prompt_sha256}, {"data", s.data}};
      if (!s.prompt_text.empty()) j["prompt"] = s.prompt_text;
      if (!s.output_text.empty()) j["output"] = s.output_text;
      std::cout << j.dump() << "\n";  // JSON Lines
    } else {
      std::printf("%-11s %-12s %-28s %12.6g  %s\n", s.task.c_str(), s.precision.c_str(), s.sample_id.c_str(), s.score,
                  s.outcome.c_str());
    }
  }
  return 0;
}

}  // namespace

Command AddSamplesCommand(CLI::App& root) {
  auto f = std::make_shared<SamplesFlags>();
  CLI::App* app = root.add_subcommand("samples", "Dump per-sample rows of a run (prompt/output text when the run "
                                                 "used --log-samples)");
  app->add_option("--db", f->db, "SQLite result file")->capture_default_str();
  app->add_option("--run", f->run, "Run id (default: newest complete run)");
  app->add_option("--task", f->task, "Only this task");
  app->add_option("--precision", f->precision, "Only this precision");
  app->add_flag("--json", f->json, "JSON Lines, one object per sample");
  return {app, [f] { return RunSamples(*f); }};
}

}  // namespace fp4lab
