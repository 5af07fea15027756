#include "engine/chat/jinja_args.h"

#include "engine/chat/jinja_error.h"

namespace fp4lab::jinja {

std::vector<std::optional<Value>> BindArgs(const std::string& function, const CallArgs& args,
                                           std::initializer_list<const char*> params) {
  const std::vector<const char*> names(params);
  if (args.positional.size() > names.size()) {
    Fail(function + "() takes at most " + std::to_string(names.size()) + " arguments (" +
         std::to_string(args.positional.size()) + " given)");
  }
  std::vector<std::optional<Value>> bound(names.size());
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < names.size() && key != names[i]) ++i;
    if (i == names.size()) Fail(function + "() got an unexpected keyword argument '" + key + "'");
    if (bound[i]) Fail(function + "() got multiple values for argument '" + key + "'");
    bound[i] = value;
  }
  return bound;
}

std::string StringArg(const std::string& function, const char* param, const std::optional<Value>& arg,
                      const std::string& missing) {
  if (!arg) return missing;
  if (!arg->IsString()) Fail(function + "(): " + param + " must be a string, got " + TypeName(*arg));
  return arg->text;
}

int64_t IntArg(const std::string& function, const char* param, const std::optional<Value>& arg, int64_t missing) {
  if (!arg || arg->IsNone()) return missing;
  if (!arg->IsInteger()) Fail(function + "(): " + param + " must be an integer, got " + TypeName(*arg));
  return arg->AsInteger();
}

}  // namespace fp4lab::jinja
