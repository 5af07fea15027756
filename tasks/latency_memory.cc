#include "tasks/latency_memory.h"

#include "engine/host_memory.h"
#include "engine/linear_scheme.h"

namespace fp4lab {

namespace {

bool IsCpu(const nlohmann::json& facts) { return facts.value("kind", std::string()) == "cpu"; }

std::optional<int64_t> IntFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key) || !facts[key].is_number_integer()) return std::nullopt;
  return facts[key].get<int64_t>();
}

std::string LayerKind(const std::string& layer) {
  if (layer.find("self_attn.") != std::string::npos) return "attention";
  if (layer.find("mlp.") != std::string::npos) return "mlp";
  if (layer.find("lm_head") != std::string::npos) return "lm_head";
  return "other";
}

}  // namespace

int64_t ForwardWorkspaceBytes(const ModelBlueprint& blueprint, int64_t tokens) {
  return 4 * tokens * blueprint.ActivationFloatsPerRow();
}

PeakMemory MeasurePeakMemory(const Backend& backend) {
  const nlohmann::json facts = backend.Facts();
  if (IsCpu(facts)) {
    auto rss = PeakResidentBytes();
    if (!rss.ok()) return {std::nullopt, "not measured: " + rss.status().message()};
    return {*rss, "host peak RSS (getrusage ru_maxrss): the whole process, every model it holds included"};
  }
  if (auto peak = IntFact(facts, "memory_peak_bytes")) {
    const std::string scope = facts.value("memory_peak_scope", std::string("scope not reported"));
    return {*peak, backend.Name() + " peak bytes held by the backend since it was created (device facts "
                   "memory_peak_bytes: " + scope + ")"};
  }
  return {std::nullopt, "not measured: " + backend.Name() + " does not report its peak memory"};
}

nlohmann::json WeightBytesByKind(const ModelConfig& config, const std::vector<LayerPrecision>& layers) {
  nlohmann::json kinds = nlohmann::json::object();
  kinds["embedding"][LinearSchemeName(LinearScheme::kBf16)] = int64_t{config.vocab_size} * config.hidden_size * 2;
  for (const LayerPrecision& layer : layers) {
    nlohmann::json& slot = kinds[LayerKind(layer.layer)][LinearSchemeName(layer.scheme)];
    slot = (slot.is_null() ? int64_t{0} : slot.get<int64_t>()) + layer.bytes;
  }
  return kinds;
}

}  // namespace fp4lab
