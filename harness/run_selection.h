// Picking runs out of a result store for the read-only commands (compare, samples, report, gate).
#pragma once

#include <cstdint>
#include <optional>

#include "engine/status.h"
#include "results/result_store.h"

namespace fp4lab {

// `run_id` if given (NotFound naming the db when absent), else the newest complete run (NotFound "no complete run"
// when the store has none).
Result<RunRecord> SelectRun(ResultStore& store, std::optional<int64_t> run_id);

// Prints "warning: run N is incomplete ..." to stderr when `run` is not complete, so that every command that reads
// a run (compare, samples, report) says so; stdout (tables, JSON) is left as it is.
void WarnIfIncomplete(const RunRecord& run);

}  // namespace fp4lab
