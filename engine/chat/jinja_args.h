// Binding call arguments to the named parameters of a built-in filter, test, method or function, as Python does.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat/jinja_value.h"

namespace fp4lab::jinja {

// Result[i] = the argument for params[i] (positional or keyword), std::nullopt when not given. More positionals
// than params, an unknown keyword or a parameter given twice is an error naming `function`.
std::vector<std::optional<Value>> BindArgs(const std::string& function, const CallArgs& args,
                                           std::initializer_list<const char*> params);

// Typed reads of a bound argument, with an error naming the function and the parameter when the type is wrong.
std::string StringArg(const std::string& function, const char* param, const std::optional<Value>& arg,
                      const std::string& missing);
int64_t IntArg(const std::string& function, const char* param, const std::optional<Value>& arg, int64_t missing);

}  // namespace fp4lab::jinja
