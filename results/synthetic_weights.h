// Runs whose scores come from synthetic weights (`fp4lab run --preset NAME --tokenizer DIR`: deterministic random
// weights of a real shape, engine/synthetic_weights.h). Their timings are real; their accuracy numbers are not, so
// every place that shows a run's scores labels them with SyntheticWeightsNote and `gate` refuses such a run.
#pragma once

#include <optional>
#include <string>

#include "results/records.h"

namespace fp4lab {

// The run provenance key the runner writes for such a run: {"origin": "preset llama-3.1-8b", "tokenizer": DIR, ...}
// (engine/engine.h Engine::Provenance()["synthetic"]).
inline constexpr char kSyntheticWeightsKey[] = "synthetic_weights";

// "synthetic weights (preset llama-3.1-8b, deterministic random): scores measure speed, not accuracy", or nullopt
// when the run ran a real checkpoint.
std::optional<std::string> SyntheticWeightsNote(const RunRecord& run);

}  // namespace fp4lab
