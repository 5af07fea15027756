#include "results/synthetic_weights.h"

namespace fp4lab {

std::optional<std::string> SyntheticWeightsNote(const RunRecord& run) {
  if (!run.provenance.is_object() || !run.provenance.contains(kSyntheticWeightsKey)) return std::nullopt;
  const nlohmann::json& synthetic = run.provenance[kSyntheticWeightsKey];
  const std::string origin = synthetic.is_object() && synthetic.contains("origin") && synthetic["origin"].is_string()
                                 ? synthetic["origin"].get<std::string>()
                                 : "unknown origin";
  return "synthetic weights (" + origin + ", deterministic random): scores measure speed, not accuracy";
}

}  // namespace fp4lab
