#include "harness/run_selection.h"

#include <cstdio>

namespace fp4lab {

Result<RunRecord> SelectRun(ResultStore& store, std::optional<int64_t> run_id) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store.ListRuns());
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (run_id ? it->id == *run_id : it->status == RunStatus::kComplete) return *it;
  }
  if (run_id) return Status::NotFound(store.path() + ": no run with id " + std::to_string(*run_id));
  return Status::NotFound(store.path() + ": no complete run (run `fp4lab run` first, or finish one with --resume)");
}

void WarnIfIncomplete(const RunRecord& run) {
  if (run.status == RunStatus::kComplete) return;
  std::fprintf(stderr,
               "warning: run %lld is incomplete (status %s: killed, failed or still running); its numbers cover only "
               "what was stored; finish it with `fp4lab run --resume`\n",
               static_cast<long long>(run.id), RunStatusName(run.status));
}

}  // namespace fp4lab
