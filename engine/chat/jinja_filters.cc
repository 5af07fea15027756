#include "engine/chat/jinja_filters.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include "engine/chat/jinja_args.h"
#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_methods.h"
#include "engine/chat/jinja_operators.h"
#include "engine/chat/jinja_text.h"

namespace fp4lab::jinja {

namespace {

using FilterFn = std::function<Value(const Value&, const CallArgs&)>;
using TestFn = std::function<bool(const Value&, const CallArgs&)>;

// jinja2's soft_str: the string itself, or str() of anything else.
std::string SoftStr(const Value& v) { return v.IsString() ? v.text : ToStr(v); }

// jinja2's make_attrgetter: "a.b.0" walks attributes and items.
Value AttributePath(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    int64_t index = 0;
    const auto [stop, error] = std::from_chars(part.data(), part.data() + part.size(), index);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    // An index past int64 is past every list's end, as Python's unbounded int would be: undefined either way.
    if (numeric && (error != std::errc() || stop != part.data() + part.size())) index = INT64_MAX;
    v = numeric ? GetItem(v, Value::Int(index)) : GetItem(v, Value::String(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// select/reject/selectattr/rejectattr: args[first_test_arg] names the test, the rest are its arguments.
std::vector<Value> SelectOrReject(const std::string& filter, const Value& input, const CallArgs& args, bool select,
                                  bool by_attribute) {
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty() || !args.positional[0].IsString()) Fail(filter + "() needs an attribute name");
    attribute = args.positional[next++].text;
  }
  std::string test;
  CallArgs test_args;
  if (next < args.positional.size()) {
    if (!args.positional[next].IsString()) Fail(filter + "(): the test name must be a string");
    test = args.positional[next++].text;
    if (!IsKnownTest(test)) Fail(filter + "(): no test named '" + test + "'");
    test_args.positional.assign(args.positional.begin() + static_cast<long>(next), args.positional.end());
  }
  test_args.keyword = args.keyword;
  std::vector<Value> out;
  for (const Value& item : IterationItems(input)) {
    const Value subject = by_attribute ? AttributePath(item, attribute) : item;
    const bool passed = test.empty() ? Truthy(subject) : ApplyTest(test, subject, test_args);
    if (passed == select) out.push_back(item);
  }
  return out;
}

Value FirstOrLast(const Value& input, bool first) {
  if (input.IsUndefined()) return Value::Undefined();
  std::vector<Value> items = IterationItems(input);
  if (items.empty()) return Value::Undefined();
  return first ? items.front() : items.back();
}

// jinja2's sort key: strings compare case-insensitively unless case_sensitive.
Value SortKey(const Value& v, bool case_sensitive) {
  if (v.IsString() && !case_sensitive) return Value::String(MapCase(v.text, CaseMapping::kLower));
  return v;
}

const std::map<std::string, FilterFn>& Filters() {
  static const auto* filters = new std::map<std::string, FilterFn>{
      {"abs",
       [](const Value& v, const CallArgs& args) {
         BindArgs("abs", args, {});
         if (v.IsInteger()) {
           if (v.AsInteger() == INT64_MIN) Fail("integer overflow in abs");
           return Value::Int(std::llabs(v.AsInteger()));
         }
         if (v.kind == Value::Kind::kFloat) return Value::Float(std::fabs(v.number));
         Fail(std::string("bad operand type for abs(): ") + TypeName(v));
       }},
      {"capitalize",
       [](const Value& v, const CallArgs& args) {
         BindArgs("capitalize", args, {});
         return Value::String(MapCase(SoftStr(v), CaseMapping::kCapitalize));
       }},
      {"default",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("default", args, {"default_value", "boolean"});
         const bool use_default = v.IsUndefined() || (a[1] && Truthy(*a[1]) && !Truthy(v));
         if (!use_default) return v;
         return a[0] ? *a[0] : Value::String("");
       }},
      {"escape",
       [](const Value& v, const CallArgs& args) {
         BindArgs("escape", args, {});
         return Value::String(EscapeHtml(SoftStr(v)));
       }},
      {"first",
       [](const Value& v, const CallArgs& args) {
         BindArgs("first", args, {});
         return FirstOrLast(v, true);
       }},
      {"last",
       [](const Value& v, const CallArgs& args) {
         BindArgs("last", args, {});
         return FirstOrLast(v, false);
       }},
      {"float",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("float", args, {"default"});
         const Value fallback = a[0] ? *a[0] : Value::Float(0.0);
         if (v.IsNumber()) return Value::Float(v.AsDouble());
         if (v.IsString()) {
           const std::string s = Strip(v.text, std::nullopt, true, true);
           char* end = nullptr;
           const double d = std::strtod(s.c_str(), &end);
           if (!s.empty() && end == s.c_str() + s.size()) return Value::Float(d);
         }
         return fallback;
       }},
      {"int",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("int", args, {"default", "base"});
         const Value fallback = a[0] ? *a[0] : Value::Int(0);
         const int64_t base = IntArg("int", "base", a[1], 10);
         if (v.IsInteger()) return Value::Int(v.AsInteger());
         if (v.kind == Value::Kind::kFloat) {
           if (!std::isfinite(v.number) || std::fabs(v.number) >= 9.2e18) return fallback;
           return Value::Int(static_cast<int64_t>(v.number));
         }
         if (v.IsString()) {
           std::string s = Strip(v.text, std::nullopt, true, true);
           s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
           char* end = nullptr;
           errno = 0;
           const long long i = std::strtoll(s.c_str(), &end, static_cast<int>(base));
           if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value::Int(i);
           const double d = std::strtod(s.c_str(), &end);  // jinja2 falls back to int(float(value))
           if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) {
             return Value::Int(static_cast<int64_t>(d));
           }
         }
         return fallback;
       }},
      {"items",
       [](const Value& v, const CallArgs& args) {
         BindArgs("items", args, {});
         if (v.IsUndefined()) return Value::List();
         if (!v.IsDict()) Fail(std::string("items filter expects a mapping, got ") + TypeName(v));
         CallArgs none;
         return GetAttribute(v, "items").callable->call(none);
       }},
      {"join",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("join", args, {"d", "attribute"});
         const std::string separator = StringArg("join", "d", a[0], "");
         std::string out;
         bool first = true;
         for (const Value& item : IterationItems(v)) {
           if (!first) out += separator;
           first = false;
           out += SoftStr(a[1] ? AttributePath(item, SoftStr(*a[1])) : item);
         }
         return Value::String(std::move(out));
       }},
      {"length",
       [](const Value& v, const CallArgs& args) {
         BindArgs("length", args, {});
         return Value::Int(Length(v));
       }},
      {"list",
       [](const Value& v, const CallArgs& args) {
         BindArgs("list", args, {});
         return Value::List(IterationItems(v));
       }},
      {"lower",
       [](const Value& v, const CallArgs& args) {
         BindArgs("lower", args, {});
         return Value::String(MapCase(SoftStr(v), CaseMapping::kLower));
       }},
      {"upper",
       [](const Value& v, const CallArgs& args) {
         BindArgs("upper", args, {});
         return Value::String(MapCase(SoftStr(v), CaseMapping::kUpper));
       }},
      {"title",
       [](const Value& v, const CallArgs& args) {
         BindArgs("title", args, {});
         return Value::String(MapCase(SoftStr(v), CaseMapping::kTitle));
       }},
      {"map",
       [](const Value& v, const CallArgs& args) {
         std::vector<Value> out;
         const Value* attribute = nullptr;
         const Value* fallback = nullptr;
         for (const auto& [key, value] : args.keyword) {
           if (key == "attribute") {
             attribute = &value;
           } else if (key == "default") {
             fallback = &value;
           } else if (args.positional.empty()) {
             Fail("map() got an unexpected keyword argument '" + key + "'");
           }
         }
         if (attribute != nullptr) {
           for (const Value& item : IterationItems(v)) {
             Value mapped = AttributePath(item, SoftStr(*attribute));
             out.push_back(mapped.IsUndefined() && fallback != nullptr ? *fallback : mapped);
           }
           return Value::List(std::move(out));
         }
         if (args.positional.empty() || !args.positional[0].IsString()) {
           Fail("map() needs attribute= or a filter name");
         }
         const std::string filter = args.positional[0].text;
         if (!IsKnownFilter(filter)) Fail("map(): no filter named '" + filter + "'");
         CallArgs filter_args;
         filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
         filter_args.keyword = args.keyword;
         for (const Value& item : IterationItems(v)) out.push_back(ApplyFilter(filter, item, filter_args));
         return Value::List(std::move(out));
       }},
      {"select",
       [](const Value& v, const CallArgs& args) {
         return Value::List(SelectOrReject("select", v, args, true, false));
       }},
      {"reject",
       [](const Value& v, const CallArgs& args) {
         return Value::List(SelectOrReject("reject", v, args, false, false));
       }},
      {"selectattr",
       [](const Value& v, const CallArgs& args) {
         return Value::List(SelectOrReject("selectattr", v, args, true, true));
       }},
      {"rejectattr",
       [](const Value& v, const CallArgs& args) {
         return Value::List(SelectOrReject("rejectattr", v, args, false, true));
       }},
      {"replace",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("replace", args, {"old", "new", "count"});
         if (!a[0] || !a[1]) Fail("replace() needs old and new");
         return Value::String(
             Replace(SoftStr(v), SoftStr(*a[0]), SoftStr(*a[1]), IntArg("replace", "count", a[2], -1)));
       }},
      {"reverse",
       [](const Value& v, const CallArgs& args) {
         BindArgs("reverse", args, {});
         if (v.IsString()) return Slice(v, std::nullopt, std::nullopt, -1);
         std::vector<Value> items = IterationItems(v);
         std::reverse(items.begin(), items.end());
         return Value::List(std::move(items));
       }},
      {"safe",
       [](const Value& v, const CallArgs& args) {
         BindArgs("safe", args, {});  // no autoescaping here (transformers does not enable it): str() only
         return Value::String(SoftStr(v));
       }},
      {"sort",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("sort", args, {"reverse", "case_sensitive", "attribute"});
         const bool reverse = a[0] && Truthy(*a[0]);
         const bool case_sensitive = a[1] && Truthy(*a[1]);
         std::vector<Value> items = IterationItems(v);
         auto key = [&](const Value& item) {
           return SortKey(a[2] ? AttributePath(item, SoftStr(*a[2])) : item, case_sensitive);
         };
         std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
           return reverse ? LessThan(key(y), key(x)) : LessThan(key(x), key(y));
         });
         return Value::List(std::move(items));
       }},
      {"string",
       [](const Value& v, const CallArgs& args) {
         BindArgs("string", args, {});
         return Value::String(SoftStr(v));
       }},
      {"tojson",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
         if ((a[0] && Truthy(*a[0])) || (a[2] && !a[2]->IsNone()) || (a[3] && Truthy(*a[3]))) {
           Fail("tojson(): only indent is supported (ensure_ascii, separators and sort_keys keep their defaults)");
         }
         std::optional<int> indent;
         if (a[1] && !a[1]->IsNone()) indent = static_cast<int>(IntArg("tojson", "indent", a[1], 0));
         return Value::String(DumpJson(v, indent));
       }},
      {"trim",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("trim", args, {"chars"});
         std::optional<std::string> chars;
         if (a[0] && !a[0]->IsNone()) chars = StringArg("trim", "chars", a[0], "");
         return Value::String(Strip(SoftStr(v), chars, true, true));
       }},
      {"unique",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("unique", args, {"case_sensitive", "attribute"});
         const bool case_sensitive = a[0] && Truthy(*a[0]);
         std::vector<Value> out, seen;
         for (const Value& item : IterationItems(v)) {
           const Value key = SortKey(a[1] ? AttributePath(item, SoftStr(*a[1])) : item, case_sensitive);
           if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); })) {
             seen.push_back(key);
             out.push_back(item);
           }
         }
         return Value::List(std::move(out));
       }},
  };
  return *filters;
}

// Filter aliases, as jinja2 registers them.
std::string CanonicalFilter(const std::string& name) {
  if (name == "d") return "default";
  if (name == "e") return "escape";
  if (name == "count") return "length";
  return name;
}

bool CompareTest(const std::string& op, const Value& v, const CallArgs& args) {
  auto a = BindArgs(op, args, {"other"});
  if (!a[0]) Fail("test '" + op + "' needs a value to compare with");
  const Value& other = *a[0];
  if (op == "eq") return Equals(v, other);
  if (op == "ne") return !Equals(v, other);
  if (op == "lt") return LessThan(v, other);
  if (op == "le") return !LessThan(other, v);
  if (op == "gt") return LessThan(other, v);
  return !LessThan(v, other);  // ge
}

std::string CanonicalTest(const std::string& name) {
  if (name == "==" || name == "equalto") return "eq";
  if (name == "!=") return "ne";
  if (name == "<" || name == "lessthan") return "lt";
  if (name == "<=") return "le";
  if (name == ">" || name == "greaterthan") return "gt";
  if (name == ">=") return "ge";
  return name;
}

const std::map<std::string, TestFn>& Tests() {
  auto no_args = [](const char* name, std::function<bool(const Value&)> test) {
    return [name, test](const Value& v, const CallArgs& args) {
      BindArgs(name, args, {});
      return test(v);
    };
  };
  auto integer_of = [](const char* name, const Value& v) {
    if (!v.IsInteger()) Fail(std::string("test '") + name + "' needs an integer, got " + TypeName(v));
    return v.AsInteger();
  };
  static const auto* tests = new std::map<std::string, TestFn>{
      {"boolean", no_args("boolean", [](const Value& v) { return v.kind == Value::Kind::kBool; })},
      {"callable", no_args("callable", [](const Value& v) { return v.kind == Value::Kind::kCallable; })},
      {"defined", no_args("defined", [](const Value& v) { return !v.IsUndefined(); })},
      {"undefined", no_args("undefined", [](const Value& v) { return v.IsUndefined(); })},
      {"none", no_args("none", [](const Value& v) { return v.IsNone(); })},
      {"true", no_args("true", [](const Value& v) { return v.kind == Value::Kind::kBool && v.boolean; })},
      {"false", no_args("false", [](const Value& v) { return v.kind == Value::Kind::kBool && !v.boolean; })},
      {"integer", no_args("integer", [](const Value& v) { return v.kind == Value::Kind::kInt; })},
      {"float", no_args("float", [](const Value& v) { return v.kind == Value::Kind::kFloat; })},
      {"number", no_args("number", [](const Value& v) { return v.IsNumber(); })},
      {"string", no_args("string", [](const Value& v) { return v.IsString(); })},
      {"mapping", no_args("mapping", [](const Value& v) { return v.IsDict() && !v.dict->is_namespace; })},
      // As in jinja2, undefined has a length (0) and items, so it counts as a sequence and as iterable.
      {"sequence",
       no_args("sequence", [](const Value& v) {
         return v.IsUndefined() || v.IsString() || v.IsList() || (v.IsDict() && !v.dict->is_namespace);
       })},
      {"iterable",
       no_args("iterable", [](const Value& v) {
         return v.IsUndefined() || v.IsString() || v.IsList() || (v.IsDict() && !v.dict->is_namespace);
       })},
      {"lower",
       no_args("lower", [](const Value& v) { return v.IsString() && MapCase(v.text, CaseMapping::kLower) == v.text; })},
      {"upper",
       no_args("upper", [](const Value& v) { return v.IsString() && MapCase(v.text, CaseMapping::kUpper) == v.text; })},
      {"odd", no_args("odd", [integer_of](const Value& v) { return integer_of("odd", v) % 2 != 0; })},
      {"even", no_args("even", [integer_of](const Value& v) { return integer_of("even", v) % 2 == 0; })},
      {"divisibleby",
       [integer_of](const Value& v, const CallArgs& args) {
         auto a = BindArgs("divisibleby", args, {"num"});
         if (!a[0]) Fail("test 'divisibleby' needs a number");
         const int64_t n = integer_of("divisibleby", *a[0]);
         if (n == 0) Fail("divisibleby 0");
         return integer_of("divisibleby", v) % n == 0;
       }},
      {"in",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("in", args, {"seq"});
         if (!a[0]) Fail("test 'in' needs a container");
         return Contains(*a[0], v);
       }},
      {"sameas",
       [](const Value& v, const CallArgs& args) {
         auto a = BindArgs("sameas", args, {"other"});
         if (!a[0]) Fail("test 'sameas' needs a value");
         const Value& o = *a[0];
         if (v.kind != o.kind) return false;
         switch (v.kind) {
           case Value::Kind::kNone:
           case Value::Kind::kUndefined: return true;
           case Value::Kind::kBool: return v.boolean == o.boolean;
           case Value::Kind::kList: return v.list == o.list;
           case Value::Kind::kDict: return v.dict == o.dict;
           case Value::Kind::kCallable: return v.callable == o.callable;
           default: return Equals(v, o);  // Python's identity of equal ints and strings varies; equality is closest
         }
       }},
      {"eq", [](const Value& v, const CallArgs& args) { return CompareTest("eq", v, args); }},
      {"ne", [](const Value& v, const CallArgs& args) { return CompareTest("ne", v, args); }},
      {"lt", [](const Value& v, const CallArgs& args) { return CompareTest("lt", v, args); }},
      {"le", [](const Value& v, const CallArgs& args) { return CompareTest("le", v, args); }},
      {"gt", [](const Value& v, const CallArgs& args) { return CompareTest("gt", v, args); }},
      {"ge", [](const Value& v, const CallArgs& args) { return CompareTest("ge", v, args); }},
  };
  return *tests;
}

}  // namespace

bool IsKnownFilter(const std::string& name) { return Filters().count(CanonicalFilter(name)) > 0; }
bool IsKnownTest(const std::string& name) { return Tests().count(CanonicalTest(name)) > 0; }

Value ApplyFilter(const std::string& name, const Value& input, const CallArgs& args) {
  const auto it = Filters().find(CanonicalFilter(name));
  if (it == Filters().end()) Fail("no filter named '" + name + "'");
  return it->second(input, args);
}

bool ApplyTest(const std::string& name, const Value& input, const CallArgs& args) {
  const auto it = Tests().find(CanonicalTest(name));
  if (it == Tests().end()) Fail("no test named '" + name + "'");
  return it->second(input, args);
}

}  // namespace fp4lab::jinja
