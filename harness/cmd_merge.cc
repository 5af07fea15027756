// `fp4lab merge OUT IN...`: joins the shard files of one plan (`fp4lab run --shard i/n`) into one run whose
// metrics are recomputed from all samples, so they equal the unsharded run's.
#include <cstdio>
#include <iostream>
#include <memory>

#include "harness/command.h"
#include "harness/paths.h"
#include "results/run_copy.h"
#include "harness/run_selection.h"
#include "harness/runner.h"

namespace fp4lab {

namespace {

struct MergeFlags {
  std::string out;
  std::vector<std::string> inputs;
};

Result<int> RunMerge(const MergeFlags& f) {
  if (f.inputs.empty()) return Status::InvalidArgument("merge: name at least one input file");
  // Check every input before writing anything.
  std::vector<std::pair<std::unique_ptr<ResultStore>, RunRecord>> shards;
  for (const auto& in : f.inputs) {
    FP4LAB_ASSIGN_OR_RETURN(auto store, ResultStore::Open(in, OpenMode::kReadOnly));
    FP4LAB_ASSIGN_OR_RETURN(RunRecord run, SelectRun(*store, std::nullopt));
    shards.emplace_back(std::move(store), std::move(run));
  }
  FP4LAB_ASSIGN_OR_RETURN(auto out, ResultStore::Open(f.out, OpenMode::kCreateOrOpen));
  FP4LAB_ASSIGN_OR_RETURN(int64_t run_id, CopyRunInto(*shards[0].first, shards[0].second.id, *out));
  for (size_t i = 1; i < shards.size(); ++i) {
    FP4LAB_RETURN_IF_ERROR(AppendRunInto(*shards[i].first, shards[i].second.id, *out, run_id)
                               .WithContext(f.inputs[i]));
  }
  out.reset();
  FP4LAB_RETURN_IF_ERROR(RecomputeRunMetrics(f.out, run_id, DataDir()));
  FP4LAB_ASSIGN_OR_RETURN(auto done, ResultStore::Open(f.out, OpenMode::kReadWrite));
  FP4LAB_RETURN_IF_ERROR(done->FinishRun(run_id, RunStatus::kComplete, shards.back().second.finished_at));
  std::cout << "merged " << shards.size() << " shard(s) into run " << run_id << " of " << f.out << "\n";
  return 0;
}

}  // namespace

Command AddMergeCommand(CLI::App& root) {
  auto f = std::make_shared<MergeFlags>();
  CLI::App* app = root.add_subcommand("merge", "Join shard files of one plan into one run (metrics recomputed "
                                               "from all samples)");
  app->add_option("out", f->out, "Output SQLite file")->required();
  app->add_option("inputs", f->inputs, "Shard SQLite files (each holding one complete run)")->required();
  return {app, [f] { return RunMerge(*f); }};
}

}  // namespace fp4lab
