#include "engine/device_memory.h"

#include <optional>

#include "engine/host_memory.h"

namespace fp4lab {

namespace {

std::optional<int64_t> IntFact(const nlohmann::json& facts, const char* key) {
  if (!facts.is_object() || !facts.contains(key) || !facts[key].is_number_integer()) return std::nullopt;
  return facts[key].get<int64_t>();
}

}  // namespace

Result<MemoryBudget> AvailableMemory(const Backend& backend, int64_t model_weight_bytes) {
  const nlohmann::json facts = backend.Facts();
  MemoryBudget budget;
  if (facts.value("kind", std::string()) == "cpu") {
    FP4LAB_ASSIGN_OR_RETURN(budget.available_bytes, HostAvailableMemoryBytes());
    budget.source = "host MemAvailable (/proc/meminfo)";
    budget.host_is_device = true;
    return budget;
  }
  if (auto free_bytes = IntFact(facts, "memory_free_bytes")) {
    budget.available_bytes = *free_bytes;
    budget.source = backend.Name() + " free memory (device facts)";
    return budget;
  }
  const auto limit = IntFact(facts, "memory_limit_bytes");
  const auto total = limit ? limit : IntFact(facts, "memory_bytes");
  if (!total) {
    return Status::Unimplemented(backend.Name() + ": the backend reports neither free nor total device memory, so "
                                 "shapes cannot be checked against it");
  }
  budget.available_bytes = *total - model_weight_bytes;
  budget.source = backend.Name() + (limit ? " memory limit" : " total memory") +
                  " minus this model's weights (other allocations not counted)";
  return budget;
}

}  // namespace fp4lab
