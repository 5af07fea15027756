#include "tasks/latency_memory.h"

#include "engine/host_memory.h"
#include "engine/role_memory.h"

namespace fp4lab {

namespace {

bool IsCpu(const nlohmann::json& facts) { return facts.value("kind", std::string()) == "cpu"; }

std::optional<int64_t> IntFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key) || !facts[key].is_number_integer()) return std::nullopt;
  return facts[key].get<int64_t>();
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

nlohmann::json WeightBytesByRole(const TensorManifest& manifest, const std::vector<LayerPrecision>& layers) {
  nlohmann::json roles = nlohmann::json::object();
  for (const RoleMemory& role : MemoryByRole(manifest, layers)) roles[role.role] = role.bytes_by_scheme;
  return roles;
}

}  // namespace fp4lab
