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

}  // namespace fp4lab
