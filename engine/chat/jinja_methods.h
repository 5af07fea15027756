// Attribute access `obj.name` with jinja2's rules: Python attributes first (the methods of str and dict that
// templates call), then dict items; undefined when neither exists. Methods of Python's str that are not
// implemented, and the mutating methods the sandbox forbids (list.append, dict.update, ...), are an error rather
// than a silently different prompt.
#pragma once

#include <string>

#include "engine/chat/jinja_value.h"

namespace fp4lab::jinja {

// Implemented: str.startswith endswith strip lstrip rstrip split upper lower title capitalize replace find count
// join; dict.get items keys values.
Value GetAttribute(const Value& object, const std::string& name);

}  // namespace fp4lab::jinja
