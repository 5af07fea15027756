// Joining the shard files of one run into a new result file, for `fp4lab merge` and `fp4lab launch`.
//
// All or nothing: the inputs are checked first (harness/shard_set.h), then the merged run is built in
// "<out>.tmp.<pid>" beside `out` and renamed to `out` only once its metrics are recomputed and it is marked
// complete. A refused or failed merge creates no `out` and leaves no temporary behind. `out` must not exist yet.
//
// The merged run's provenance is the first shard's, with plan.shard "0/1" (it covers every item) and
// provenance["shards"]: one entry per shard, in index order, keeping what ran it:
//   {"shard": "i/n", "file", "run_id", "host", "device", "device_name", "started_at", "finished_at",
//    "placement" (--shard auto), "cuda_visible_devices", "timing" (harness/run_timing.h), "samples",
//    "device_facts": {precision: the backend's facts}}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

struct MergeOutcome {
  int64_t run_id = 0;  // the merged run in `out`
  int shards = 0;
};

// `data_dir` is where bundled datasets live (tasks are rebuilt from their stored options to recompute metrics).
Result<MergeOutcome> MergeShardFiles(const std::vector<std::string>& inputs, const std::string& out,
                                     const std::string& data_dir);

}  // namespace fp4lab
