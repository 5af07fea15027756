// The value model of the Jinja interpreter: what template expressions compute, with Python's semantics (jinja2
// runs on Python, and chat templates are written against it).
//
// Lists and dicts are shared by reference as in Python (a namespace() assigned to two names is one object). Dicts
// keep insertion order, so tojson prints keys in the order they came in (transformers uses sort_keys=False).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fp4lab::jinja {

struct Value;

// Deepest nesting of lists and dicts that repr, ==, < and tojson walk (recursively); a deeper value, or one that
// contains itself (x.append(x)), is an error there rather than a stack overflow. A template can build either in a
// loop; JSON input is at most kMaxJsonDepth (64) deep.
inline constexpr int kMaxValueDepth = 512;

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;  // prints as (a, b) instead of [a, b]; otherwise the same
};

struct DictData {
  std::vector<std::pair<std::string, Value>> entries;  // insertion order; keys are unique
  bool is_namespace = false;  // namespace(): the only object `{% set ns.attr = ... %}` may assign to

  const Value* Find(const std::string& key) const;
  void Set(const std::string& key, Value value);
};

// Arguments of a call: f(a, b, key=c).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A macro, a caller() block, a bound method ("abc".upper) or a global function (range, namespace, ...).
struct Callable {
  std::string name;  // for messages
  std::function<Value(CallArgs&)> call;
};

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kCallable };

  Kind kind = Kind::kUndefined;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;                   // kString; for kUndefined the name that was missing (for messages)
  std::shared_ptr<ListData> list;     // kList
  std::shared_ptr<DictData> dict;     // kDict
  std::shared_ptr<Callable> callable; // kCallable

  static Value Undefined(std::string missing_name = "") {
    Value v;
    v.text = std::move(missing_name);
    return v;
  }
  static Value None() { return WithKind(Kind::kNone); }
  static Value Bool(bool b) {
    Value v = WithKind(Kind::kBool);
    v.boolean = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v = WithKind(Kind::kInt);
    v.integer = i;
    return v;
  }
  static Value Float(double d) {
    Value v = WithKind(Kind::kFloat);
    v.number = d;
    return v;
  }
  static Value String(std::string s) {
    Value v = WithKind(Kind::kString);
    v.text = std::move(s);
    return v;
  }
  static Value List(std::vector<Value> items = {}, bool is_tuple = false) {
    Value v = WithKind(Kind::kList);
    v.list = std::shared_ptr<ListData>(new ListData{std::move(items), is_tuple}, DeleteNested<ListData>);
    return v;
  }
  static Value Dict() {
    Value v = WithKind(Kind::kDict);
    v.dict = std::shared_ptr<DictData>(new DictData(), DeleteNested<DictData>);
    return v;
  }
  static Value Function(std::string name, std::function<Value(CallArgs&)> call) {
    Value v = WithKind(Kind::kCallable);
    v.callable = std::make_shared<Callable>(Callable{std::move(name), std::move(call)});
    return v;
  }

  bool IsUndefined() const { return kind == Kind::kUndefined; }
  bool IsNone() const { return kind == Kind::kNone; }
  bool IsString() const { return kind == Kind::kString; }
  bool IsList() const { return kind == Kind::kList; }
  bool IsDict() const { return kind == Kind::kDict; }
  // Python's numbers: bool is an int.
  bool IsInteger() const { return kind == Kind::kInt || kind == Kind::kBool; }
  bool IsNumber() const { return IsInteger() || kind == Kind::kFloat; }
  int64_t AsInteger() const { return kind == Kind::kBool ? (boolean ? 1 : 0) : integer; }
  double AsDouble() const { return kind == Kind::kFloat ? number : static_cast<double>(AsInteger()); }

 private:
  // The deleter of every list and dict: releases the lists and dicts nested in it one at a time, not recursively,
  // so a value nested 100,000 deep (a template can build one in a loop) does not overflow the stack when it dies.
  template <class Data>
  static void DeleteNested(Data* data);

  static Value WithKind(Kind k) {
    Value v;
    v.kind = k;
    return v;
  }
};

// Python's type name of a value ("str", "int", "list", "dict", "NoneType", "undefined", ...), for messages.
const char* TypeName(const Value& v);

// Python truthiness; undefined is false.
bool Truthy(const Value& v);

// str(v) as jinja2 prints it with {{ }}: undefined -> "", None -> "None", True -> "True", 1.0 -> "1.0",
// lists and dicts in Python's repr form.
std::string ToStr(const Value& v);
// repr(v): strings quoted as Python quotes them.
std::string Repr(const Value& v);
// Python's repr of a float: the shortest text that reads back exactly, "1.0", "1e-05", "inf", "nan".
std::string FormatFloat(double d);

// Python ==: 1 == 1.0 == True, lists and dicts element by element.
bool Equals(const Value& a, const Value& b);
// Python <: numbers with numbers, strings (by code point), lists element-wise; anything else is an error.
bool LessThan(const Value& a, const Value& b);

// The items `for` iterates: list items, dict keys, string characters, nothing for undefined; an error otherwise.
std::vector<Value> IterationItems(const Value& v);

// Python's len(): characters of a string, items of a list or dict, 0 for undefined; an error otherwise.
int64_t Length(const Value& v);

}  // namespace fp4lab::jinja
