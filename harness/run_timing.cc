#include "harness/run_timing.h"

namespace fp4lab {

Result<RunTimer> RunTimer::Start(ResultStore& store, int64_t run_id) {
  FP4LAB_ASSIGN_OR_RETURN(int64_t samples, store.CountSamples(run_id));
  return RunTimer(run_id, samples);
}

Status RunTimer::Finish(ResultStore& store) const {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  FP4LAB_ASSIGN_OR_RETURN(int64_t samples, store.CountSamples(run_id_));
  if (samples <= samples_before_) return Status::Ok();
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, store.GetRun(run_id_));
  nlohmann::json timing = run.provenance.value("timing", nlohmann::json::object());
  timing["eval_seconds"] = timing.value("eval_seconds", 0.0) + seconds;
  timing["samples_evaluated"] = timing.value("samples_evaluated", int64_t{0}) + (samples - samples_before_);
  timing["sessions"] = timing.value("sessions", 0) + 1;
  run.provenance["timing"] = timing;
  return store.UpdateRunProvenance(run_id_, run.provenance);
}

}  // namespace fp4lab
