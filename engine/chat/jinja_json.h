// JSON in and out of the Jinja value model: template variables come from JSON (messages, extra variables), and the
// tojson filter writes JSON exactly as transformers' tojson does: Python's json.dumps(x, ensure_ascii=False,
// indent=indent, sort_keys=False).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat/jinja_value.h"

namespace fp4lab::jinja {

// Objects keep their key order. Integers beyond int64 are an error.
Value FromJson(const nlohmann::ordered_json& json);

// json.dumps: separators ", " and ": " without indent, "," and ": " with it; non-ASCII written as is; floats as
// Python's repr (NaN, Infinity); tuples as arrays. Undefined values and functions are an error.
std::string DumpJson(const Value& value, std::optional<int> indent);

}  // namespace fp4lab::jinja
