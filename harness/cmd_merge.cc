// `fp4lab merge OUT IN...`: joins the shard files of one plan (`fp4lab run --shard i/n`) into one run whose
// metrics are recomputed from all samples, so they equal the unsharded run's. Refuses (exit 2, naming the files)
// shards of different plans, a missing, repeated or incomplete shard and a sharded latency task, and then writes
// nothing (harness/merge.h).
#include <iostream>
#include <memory>

#include "harness/command.h"
#include "harness/merge.h"
#include "harness/paths.h"

namespace fp4lab {

namespace {

struct MergeFlags {
  std::string out;
  std::vector<std::string> inputs;
};

Result<int> RunMerge(const MergeFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(MergeOutcome merged, MergeShardFiles(f.inputs, f.out, DataDir()));
  std::cout << "merged " << merged.shards << " shard(s) into run " << merged.run_id << " of " << f.out << "\n";
  return 0;
}

}  // namespace

Command AddMergeCommand(CLI::App& root) {
  auto f = std::make_shared<MergeFlags>();
  CLI::App* app = root.add_subcommand("merge", "Join the shard files of one run into a new file (metrics recomputed "
                                               "from all samples); refuses an incomplete or inconsistent set");
  app->add_option("out", f->out, "Output SQLite file (must not exist yet)")->required();
  app->add_option("inputs", f->inputs, "Shard SQLite files: every shard i/n of one plan, each a complete run")
      ->required();
  return {app, [f] { return RunMerge(*f); }};
}

}  // namespace fp4lab
