#include "results/gate_rules.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/file_util.h"

namespace fp4lab {
namespace {

std::string JoinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

// Reads a required or optional non-empty string field.
Status ReadString(const nlohmann::json& rule, const std::string& key, const std::string& where, bool required,
                  std::string* out) {
  auto it = rule.find(key);
  if (it == rule.end()) {
    if (required) return Status::InvalidArgument(where + ": missing required key \"" + key + "\"");
    return Status::Ok();
  }
  if (!it->is_string() || it->get<std::string>().empty()) {
    return Status::InvalidArgument(where + ": \"" + key + "\" must be a non-empty string, got " + it->dump());
  }
  *out = it->get<std::string>();
  return Status::Ok();
}

Status ReadBound(const nlohmann::json& rule, const std::string& key, const std::string& where,
                 std::optional<double>* out) {
  auto it = rule.find(key);
  if (it == rule.end()) return Status::Ok();
  if (!it->is_number() || !std::isfinite(it->get<double>())) {
    return Status::InvalidArgument(where + ": \"" + key + "\" must be a finite number, got " + it->dump());
  }
  *out = it->get<double>();
  return Status::Ok();
}

// Maps an enum-valued string field through `names` (index = enum value).
template <typename Enum>
Status ReadEnum(const nlohmann::json& rule, const std::string& key, const std::string& where,
                const std::vector<std::string>& names, Enum* out) {
  std::string text;
  FP4LAB_RETURN_IF_ERROR(ReadString(rule, key, where, /*required=*/false, &text));
  if (text.empty()) return Status::Ok();  // absent: keep the default
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) {
      *out = static_cast<Enum>(i);
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(where + ": \"" + key + "\" is \"" + text + "\", expected one of " + JoinKeys(names));
}

}  // namespace

Result<GateRule> ParseGateRule(const nlohmann::json& rule, const std::string& where) {
  if (!rule.is_object()) return Status::InvalidArgument(where + ": expected an object, got " + rule.dump());
  const std::vector<std::string>& keys = GateRuleKeys();
  for (const auto& [key, value] : rule.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      return Status::InvalidArgument(where + ": unknown key \"" + key + "\"; valid keys: " + JoinKeys(keys));
    }
  }
  GateRule out;
  FP4LAB_RETURN_IF_ERROR(ReadString(rule, "name", where, true, &out.name));
  const std::string named = where + " (\"" + out.name + "\")";
  FP4LAB_RETURN_IF_ERROR(ReadString(rule, "task", named, true, &out.task));
  FP4LAB_RETURN_IF_ERROR(ReadString(rule, "metric", named, true, &out.metric));
  FP4LAB_RETURN_IF_ERROR(ReadString(rule, "precision", named, true, &out.precision));
  FP4LAB_RETURN_IF_ERROR(ReadString(rule, "reference_precision", named, false, &out.reference_precision));
  FP4LAB_RETURN_IF_ERROR(ReadEnum(rule, "against", named, {"none", "reference", "baseline"}, &out.against));
  FP4LAB_RETURN_IF_ERROR(ReadEnum(rule, "kind", named, {"absolute", "relative", "ratio"}, &out.kind));
  FP4LAB_RETURN_IF_ERROR(ReadEnum(rule, "mode", named, {"point", "statistical"}, &out.mode));
  FP4LAB_RETURN_IF_ERROR(ReadBound(rule, "min", named, &out.min));
  FP4LAB_RETURN_IF_ERROR(ReadBound(rule, "max", named, &out.max));
  if (!out.min && !out.max) return Status::InvalidArgument(named + ": needs a bound, \"min\" or \"max\"");
  if (out.min && out.max && *out.min > *out.max) {
    return Status::InvalidArgument(named + ": \"min\" " + std::to_string(*out.min) + " exceeds \"max\" " +
                                   std::to_string(*out.max));
  }
  if (out.kind != GateKind::kAbsolute && out.against == GateAgainst::kNone) {
    return Status::InvalidArgument(named + ": kind \"" + GateKindName(out.kind) +
                                   "\" compares two values; set \"against\" to \"reference\" or \"baseline\"");
  }
  if (out.against == GateAgainst::kReference && out.precision == out.reference_precision) {
    return Status::InvalidArgument(named + ": precision \"" + out.precision +
                                   "\" is its own reference; choose another precision or against \"baseline\"");
  }
  return out;
}

const char* GateAgainstName(GateAgainst against) {
  switch (against) {
    case GateAgainst::kNone:
      return "none";
    case GateAgainst::kReference:
      return "reference";
    case GateAgainst::kBaseline:
      return "baseline";
  }
  return "none";
}

const char* GateKindName(GateKind kind) {
  switch (kind) {
    case GateKind::kAbsolute:
      return "absolute";
    case GateKind::kRelative:
      return "relative";
    case GateKind::kRatio:
      return "ratio";
  }
  return "absolute";
}

const char* GateModeName(GateMode mode) {
  switch (mode) {
    case GateMode::kPoint:
      return "point";
    case GateMode::kStatistical:
      return "statistical";
  }
  return "point";
}

const std::vector<std::string>& GateRuleKeys() {
  static const std::vector<std::string> kKeys = {"name",    "task", "metric", "precision", "reference_precision",
                                                 "against", "kind", "mode",   "min",       "max"};
  return kKeys;
}

Result<std::vector<GateRule>> ParseGateRules(const nlohmann::json& doc, const std::string& source) {
  const nlohmann::json* rules = &doc;
  if (doc.is_object()) {
    for (const auto& [key, value] : doc.items()) {
      if (key != "rules") {
        return Status::InvalidArgument(source + ": unknown top-level key \"" + key + "\"; expected \"rules\"");
      }
    }
    auto it = doc.find("rules");
    if (it == doc.end()) return Status::InvalidArgument(source + ": missing top-level key \"rules\"");
    rules = &*it;
  }
  if (!rules->is_array()) {
    return Status::InvalidArgument(source + ": \"rules\" must be an array of rule objects");
  }
  if (rules->empty()) return Status::InvalidArgument(source + ": \"rules\" is empty; a gate needs at least one rule");
  std::vector<GateRule> out;
  std::set<std::string> names;
  for (size_t i = 0; i < rules->size(); ++i) {
    const std::string where = source + ": rules[" + std::to_string(i) + "]";
    FP4LAB_ASSIGN_OR_RETURN(GateRule rule, ParseGateRule((*rules)[i], where));
    if (!names.insert(rule.name).second) {
      return Status::InvalidArgument(where + ": duplicate rule name \"" + rule.name + "\"");
    }
    out.push_back(std::move(rule));
  }
  return out;
}

Result<std::vector<GateRule>> LoadGateRules(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::json doc, ReadJsonFile(path));
  return ParseGateRules(doc, path);
}

nlohmann::json GateRuleToJson(const GateRule& rule) {
  nlohmann::json out = {{"name", rule.name},
                        {"task", rule.task},
                        {"metric", rule.metric},
                        {"precision", rule.precision},
                        {"reference_precision", rule.reference_precision},
                        {"against", GateAgainstName(rule.against)},
                        {"kind", GateKindName(rule.kind)},
                        {"mode", GateModeName(rule.mode)}};
  if (rule.min) out["min"] = *rule.min;
  if (rule.max) out["max"] = *rule.max;
  return out;
}

}  // namespace fp4lab
