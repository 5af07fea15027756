// libFuzzer target: gate rules (docs/GATE.md) and a stored gate result (`gate --json`, read by `report --gate`).
// Accepted rules must render back to JSON that parses to the same rules.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/file_util.h"
#include "results/gate_output.h"
#include "results/gate_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto json = fp4lab::ParseJsonBounded(std::string_view(reinterpret_cast<const char*>(data), size), "gate.json");
  if (!json.ok()) return 0;
  (void)fp4lab::GateReportFromJson(*json, "gate.json");
  auto rules = fp4lab::ParseGateRules(*json, "gate.json");
  if (!rules.ok()) return 0;
  nlohmann::json again = nlohmann::json::array();
  for (const auto& rule : *rules) again.push_back(fp4lab::GateRuleToJson(rule));
  auto reparsed = fp4lab::ParseGateRules(again, "round trip");
  if (!reparsed.ok() || reparsed->size() != rules->size()) std::abort();
  return 0;
}
