// Copying runs between result stores, for `fp4lab merge`: each shard wrote its own file; merge copies the
// shards' raw rows into one store and then recomputes metrics from the merged samples.
//
// What travels: the run row, task rows, samples and layer precision maps. What does not: metrics and
// comparisons (they summarize one shard only). Copied tasks arrive with complete = false and a copied run with
// status running and no finished_at, because the merged run is complete only once its metrics are recomputed
// (ResultStore::CompleteTask per task, then FinishRun).
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "results/result_store.h"

namespace fp4lab {

// Copies run `src_run_id` of `src` into `dst` as a new run and returns its id in `dst`. One transaction in
// `dst`: on failure `dst` holds nothing of it. NotFound when the run does not exist in `src`.
// REQUIRES: `dst` is writable.
Result<int64_t> CopyRunInto(ResultStore& src, int64_t src_run_id, ResultStore& dst);

// Adds the tasks, samples and layer maps of run `src_run_id` of `src` to the existing run `dst_run_id` of `dst`
// (the second and later shards of a merge). Samples and layers already in `dst` under the same key are
// overwritten, so appending the same shard twice changes nothing. A task already in `dst` with another version
// or dataset_sha256 is FailedPrecondition (the shards ran different plans); one that matches is marked
// incomplete, since its stored metrics no longer cover all samples. One transaction in `dst`.
Status AppendRunInto(ResultStore& src, int64_t src_run_id, ResultStore& dst, int64_t dst_run_id);

}  // namespace fp4lab
