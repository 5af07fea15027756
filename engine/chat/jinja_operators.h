// Python's operators on Jinja values: arithmetic, ~, `in`, indexing and slicing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_value.h"

namespace fp4lab::jinja {

// op is one of + - * / // % ** ~. Integers are 64-bit: overflow is an error, not a wrap. Strings and lists built
// by + and * are bounded by limits.max_string_bytes (for lists: items). Undefined operands are an error, except
// with ~ (where undefined prints as "").
Value BinaryOp(const std::string& op, const Value& a, const Value& b, const Limits& limits);

// `item in container`: substring for strings, equality for list items, keys of dicts; false for undefined.
bool Contains(const Value& container, const Value& item);

// obj[key]: dict item (then dict method, as jinja2's getitem falls back to getattr), list/string item (negative
// counts from the end); undefined when missing or out of range.
Value GetItem(const Value& object, const Value& key);

// obj[start:stop:step] of a list, tuple or string with Python's clamping; a missing bound is std::nullopt.
Value Slice(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
            std::optional<int64_t> step);

}  // namespace fp4lab::jinja
