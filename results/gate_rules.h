// Regression-gate rules: the schema of a rules file (docs/GATE.md) and its strict parser.
//
// A rules file is {"rules": [ {...}, ... ]} (a bare top-level array is accepted too). Each rule bounds one
// quantity derived from one stored metric (task, metric, precision) of the candidate run:
//   kind "absolute", against omitted/"none": the candidate's value                     c
//   kind "absolute", against reference|baseline: the difference                         c - r
//   kind "relative", against reference|baseline: the relative difference                (c - r) / |r|
//   kind "ratio",    against reference|baseline: the ratio (latency, memory)            c / r
// where r is the same metric at `reference_precision` (default "bf16") of the candidate run ("reference") or
// at the same precision of the baseline run ("baseline"). A rule fails when the quantity is above "max" or
// below "min" (point mode), or only when the whole 95% interval of the quantity is beyond the bound
// (statistical mode). Unknown keys are errors, so a typo never silently disables a bound.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

enum class GateAgainst { kNone, kReference, kBaseline };
enum class GateKind { kAbsolute, kRelative, kRatio };
enum class GateMode { kPoint, kStatistical };

const char* GateAgainstName(GateAgainst against);  // "none" | "reference" | "baseline"
const char* GateKindName(GateKind kind);           // "absolute" | "relative" | "ratio"
const char* GateModeName(GateMode mode);           // "point" | "statistical"

struct GateRule {
  std::string name;                          // unique within the file; the JUnit test case name
  std::string task;                          // "mmlu", "perplexity", ...
  std::string metric;                        // "acc", "token_ppl", "decode_tok_s@b1", ...
  std::string precision;                     // the candidate precision, e.g. "nvfp4"
  std::string reference_precision = "bf16";  // r's precision when against == kReference
  GateAgainst against = GateAgainst::kNone;
  GateKind kind = GateKind::kAbsolute;
  GateMode mode = GateMode::kPoint;
  std::optional<double> min;  // at least one of min / max is set; min <= max
  std::optional<double> max;
};

// The keys a rule object may hold, in documentation order.
const std::vector<std::string>& GateRuleKeys();

// Parses and validates a rules document. `source` names the file in messages, e.g.
//   "gate.json: rules[2]: unknown key \"maxx\"; valid keys: name, task, ...".
// InvalidArgument on any schema violation (wrong type, unknown key, missing field, duplicate name,
// no bound, min > max, relative/ratio without a comparator).
Result<std::vector<GateRule>> ParseGateRules(const nlohmann::json& doc, const std::string& source);

// Parses one rule object; `where` prefixes messages (e.g. "gate.json: rules[2]"). Same checks as above
// except duplicate names.
Result<GateRule> ParseGateRule(const nlohmann::json& rule, const std::string& where);

// Reads `path` and parses it (NotFound / IoError / InvalidArgument naming the path).
Result<std::vector<GateRule>> LoadGateRules(const std::string& path);

// The rule as JSON in the file schema (round-trips through ParseGateRules).
nlohmann::json GateRuleToJson(const GateRule& rule);

}  // namespace fp4lab
