// `fp4lab samples`: dump per-sample rows of a run, like lm-evaluation-harness's samples files.
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

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

// InvalidArgument naming what the run holds when --task or --precision matches nothing in it.
Status CheckFilters(ResultStore& store, int64_t run_id, const SamplesFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TaskRecord> tasks, store.ListTasks(run_id));
  std::set<std::string> names, precisions;
  for (const auto& t : tasks) {
    names.insert(t.task);
    precisions.insert(t.precision);
  }
  auto list = [](const std::set<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out.empty() ? std::string("none") : out;
  };
  const std::string run = "run " + std::to_string(run_id);
  if (!f.task.empty() && !names.count(f.task)) {
    return Status::InvalidArgument("--task " + f.task + ": " + run + " has no such task; its tasks: " + list(names));
  }
  if (!f.precision.empty() && !precisions.count(f.precision)) {
    return Status::InvalidArgument("--precision " + f.precision + ": " + run +
                                   " has no such precision; its precisions: " + list(precisions));
  }
  return Status::Ok();
}

Result<int> RunSamples(const SamplesFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(auto store, ResultStore::Open(f.db, OpenMode::kReadOnly));
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, SelectRun(*store, f.run));
  WarnIfIncomplete(run);
  FP4LAB_RETURN_IF_ERROR(CheckFilters(*store, run.id, f));
  FP4LAB_ASSIGN_OR_RETURN(auto samples, store->ListSamples(run.id, f.task, f.precision));
  for (const auto& s : samples) {
    if (f.json) {
      nlohmann::json j = {{"run", s.run_id},     {"task", s.task},       {"precision", s.precision},
                          {"sample_id", s.sample_id}, {"score", s.score}, {"outcome", s.outcome},
                          {"prompt_sha256", s.prompt_sha256}, {"data", s.data}};
      if (!s.prompt_text.empty()) j["prompt"] = s.prompt_text;
      if (!s.output_text.empty()) j["output"] = s.output_text;
      // Text stored by an older fp4lab may hold invalid UTF-8: replaced by U+FFFD rather than aborting the dump.
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";  // JSON Lines
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
