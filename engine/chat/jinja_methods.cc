#include "engine/chat/jinja_methods.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "engine/chat/jinja_args.h"
#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_text.h"

namespace fp4lab::jinja {

namespace {

// Python's str methods this interpreter does not implement: calling one is an error, not an undefined value.
constexpr std::array<std::string_view, 31> kUnsupportedStrMethods = {
    "casefold", "center", "encode", "expandtabs", "format", "format_map", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace",
    "istitle", "isupper", "ljust", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rjust",
    "rpartition", "rsplit", "splitlines", "swapcase", "zfill"};
// Methods the sandbox (ImmutableSandboxedEnvironment) refuses because they modify the object.
constexpr std::array<std::string_view, 13> kMutatingMethods = {
    "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update", "setdefault", "popitem",
    "copy", "fromkeys"};

template <size_t N>
bool In(const std::array<std::string_view, N>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

Value Method(const std::string& qualified, std::function<Value(CallArgs&)> call) {
  return Value::Function(qualified, std::move(call));
}

// startswith/endswith: a string or a tuple of strings.
bool MatchesAffix(const std::string& text, const Value& affix, bool at_start, const std::string& function) {
  auto matches = [&](const Value& v) {
    if (!v.IsString()) Fail(function + "(): argument must be str or a tuple of str, not " + TypeName(v));
    if (v.text.size() > text.size()) return false;
    return at_start ? text.compare(0, v.text.size(), v.text) == 0
                    : text.compare(text.size() - v.text.size(), v.text.size(), v.text) == 0;
  };
  if (affix.IsList()) {
    return std::any_of(affix.list->items.begin(), affix.list->items.end(), matches);
  }
  return matches(affix);
}

std::optional<std::string> OptionalString(const std::string& function, const char* param,
                                          const std::optional<Value>& arg) {
  if (!arg || arg->IsNone()) return std::nullopt;
  return StringArg(function, param, arg, "");
}

Value StringMethod(const std::string& s, const std::string& name) {
  const std::string f = "str." + name;
  if (name == "startswith" || name == "endswith") {
    return Method(f, [s, f, at_start = name == "startswith"](CallArgs& args) {
      auto a = BindArgs(f, args, {"prefix"});
      if (!a[0]) Fail(f + "() takes exactly one argument");
      return Value::Bool(MatchesAffix(s, *a[0], at_start, f));
    });
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    return Method(f, [s, f, name](CallArgs& args) {
      auto a = BindArgs(f, args, {"chars"});
      return Value::String(Strip(s, OptionalString(f, "chars", a[0]), name != "rstrip", name != "lstrip"));
    });
  }
  if (name == "split") {
    return Method(f, [s, f](CallArgs& args) {
      auto a = BindArgs(f, args, {"sep", "maxsplit"});
      std::vector<Value> pieces;
      for (std::string& piece : Split(s, OptionalString(f, "sep", a[0]), IntArg(f, "maxsplit", a[1], -1))) {
        pieces.push_back(Value::String(std::move(piece)));
      }
      return Value::List(std::move(pieces));
    });
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    const CaseMapping mapping = name == "upper"   ? CaseMapping::kUpper
                                : name == "lower" ? CaseMapping::kLower
                                : name == "title" ? CaseMapping::kTitle
                                                  : CaseMapping::kCapitalize;
    return Method(f, [s, f, mapping](CallArgs& args) {
      BindArgs(f, args, {});
      return Value::String(MapCase(s, mapping));
    });
  }
  if (name == "replace") {
    return Method(f, [s, f](CallArgs& args) {
      auto a = BindArgs(f, args, {"old", "new", "count"});
      if (!a[0] || !a[1]) Fail(f + "() needs old and new");
      return Value::String(Replace(s, StringArg(f, "old", a[0], ""), StringArg(f, "new", a[1], ""),
                                   IntArg(f, "count", a[2], -1)));
    });
  }
  if (name == "find" || name == "count") {
    return Method(f, [s, f, name](CallArgs& args) {
      auto a = BindArgs(f, args, {"sub"});
      const std::string sub = StringArg(f, "sub", a[0], "");
      if (!a[0]) Fail(f + "() takes exactly one argument");
      if (name == "find") {
        const size_t at = s.find(sub);
        if (at == std::string::npos) return Value::Int(-1);
        return Value::Int(static_cast<int64_t>(DecodeUtf8(std::string_view(s).substr(0, at)).size()));
      }
      if (sub.empty()) return Value::Int(static_cast<int64_t>(DecodeUtf8(s).size()) + 1);
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value::Int(n);
    });
  }
  if (name == "join") {
    return Method(f, [s, f](CallArgs& args) {
      auto a = BindArgs(f, args, {"iterable"});
      if (!a[0]) Fail(f + "() takes exactly one argument");
      std::string out;
      bool first = true;
      for (const Value& item : IterationItems(*a[0])) {
        if (!item.IsString()) Fail(f + "(): expected str items, got " + TypeName(item));
        if (!first) out += s;
        first = false;
        out += item.text;
      }
      return Value::String(std::move(out));
    });
  }
  if (In(kUnsupportedStrMethods, name)) Fail(f + "() is not supported");
  return Value::Undefined(name);
}

Value DictMethod(const Value& dict, const std::string& name) {
  const std::string f = "dict." + name;
  const std::shared_ptr<DictData> data = dict.dict;
  if (name == "get") {
    return Method(f, [data, f](CallArgs& args) {
      auto a = BindArgs(f, args, {"key", "default"});
      if (!a[0]) Fail(f + "() needs a key");
      if (a[0]->IsString()) {
        if (const Value* v = data->Find(a[0]->text)) return *v;
      }
      return a[1] ? *a[1] : Value::None();
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    return Method(f, [data, f, name](CallArgs& args) {
      BindArgs(f, args, {});
      std::vector<Value> out;
      for (const auto& [key, value] : data->entries) {
        if (name == "items") {
          out.push_back(Value::List({Value::String(key), value}, /*is_tuple=*/true));
        } else {
          out.push_back(name == "keys" ? Value::String(key) : value);
        }
      }
      return Value::List(std::move(out));
    });
  }
  return Value::Undefined(name);
}

}  // namespace

Value GetAttribute(const Value& object, const std::string& name) {
  if (object.IsUndefined()) {
    Fail("'" + (object.text.empty() ? std::string("value") : object.text) + "' is undefined (reading ." + name +
         ")");
  }
  if (!name.empty() && name[0] == '_') Fail("access to attribute '" + name + "' is unsafe (sandbox)");
  if (In(kMutatingMethods, name) && (object.IsList() || (object.IsDict() && !object.dict->is_namespace))) {
    Fail(std::string("access to attribute '") + name + "' of '" + TypeName(object) + "' object is unsafe (sandbox)");
  }
  if (object.IsString()) return StringMethod(object.text, name);
  if (object.IsDict()) {
    if (!object.dict->is_namespace) {
      Value method = DictMethod(object, name);
      if (!method.IsUndefined()) return method;
    }
    if (const Value* v = object.dict->Find(name)) return *v;
  }
  return Value::Undefined(name);
}

}  // namespace fp4lab::jinja
