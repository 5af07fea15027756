// What makes several shard files one run. `fp4lab merge` (and `fp4lab launch`, which merges) checks all of it before
// anything is written, and refuses with InvalidArgument naming the shard files:
//  1. each file's newest run is complete, and so is every task in it;
//  2. no shard holds a task that is never sharded (latency: its percentiles and memory peaks describe one process
//     on one device, and cannot be pooled across processes);
//  3. the shards form one complete, non-overlapping set: every one is i of the same n, and every i in 0..n-1 is
//     there exactly once;
//  4. they ran one plan: the same plan apart from shard and device (model and reference paths, precisions,
//     tasks and their options, calibration), the same model, reference and calibration file hashes, the same fp4lab
//     version, git sha and build type, the same task x precision rows with the same task versions, options and
//     dataset hashes, and the same execution path per precision (native / emulated / weight-only);
//  5. every stored sample belongs to its file's shard (Shard::Contains), so no item is counted twice.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/status.h"
#include "harness/runner.h"
#include "results/result_store.h"

namespace fp4lab {

// Tasks that are never sharded.
bool IsNeverSharded(const std::string& task);

// InvalidArgument when `shard` splits the run (count > 1) and `tasks` holds a task that is never sharded.
Status CheckShardable(const std::vector<std::string>& tasks, const Shard& shard);

// One input of a merge: its file (open read-only), its newest run and the shard that run covered.
struct ShardFile {
  std::string path;
  std::unique_ptr<ResultStore> store;
  RunRecord run;
  std::vector<TaskRecord> tasks;
  Shard shard;
  int64_t samples = 0;  // samples stored in the run
};

// Opens every file in `paths` read-only and checks rules 1-5 above. Returns the shards ordered by index.
// InvalidArgument for a set that breaks a rule; the store's errors for a file that cannot be read.
Result<std::vector<ShardFile>> OpenShardSet(const std::vector<std::string>& paths);

}  // namespace fp4lab
