#include "results/records.h"

namespace fp4lab {

const char* RunStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kComplete: return "complete";
    case RunStatus::kFailed: return "failed";
  }
  return "unknown";  // only for a value outside the enum; the runs table's CHECK rejects it
}

}  // namespace fp4lab
