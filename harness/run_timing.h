// How fast a run evaluated, so a merged run can show throughput per rank and the scaling of the whole run.
//
// Each session of a run (the first one and every --resume) that evaluates something adds the wall seconds spent on
// its tasks (after the models are loaded) and the number of samples it stored to the run's provenance:
//   provenance["timing"] = {"eval_seconds": s, "samples_evaluated": n, "sessions": k}
// A killed session adds nothing, so samples_evaluated / eval_seconds is the throughput of the sessions that finished.
#pragma once

#include <chrono>
#include <cstdint>

#include "engine/status.h"
#include "results/result_store.h"

namespace fp4lab {

class RunTimer {
 public:
  // Starts timing a session of `run_id`: remembers the samples stored so far and the time.
  static Result<RunTimer> Start(ResultStore& store, int64_t run_id);
  // Adds this session to provenance["timing"] (nothing when it stored no sample).
  Status Finish(ResultStore& store) const;

 private:
  RunTimer(int64_t run_id, int64_t samples_before)
      : run_id_(run_id), samples_before_(samples_before), start_(std::chrono::steady_clock::now()) {}

  int64_t run_id_;
  int64_t samples_before_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace fp4lab
