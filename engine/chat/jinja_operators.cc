#include "engine/chat/jinja_operators.h"

#include <cmath>

#include "engine/chat/jinja_methods.h"
#include "engine/chat/jinja_text.h"

namespace fp4lab::jinja {

namespace {

[[noreturn]] void Unsupported(const std::string& op, const Value& a, const Value& b) {
  for (const Value* v : {&a, &b}) {
    if (v->IsUndefined()) Fail("'" + (v->text.empty() ? std::string("value") : v->text) + "' is undefined");
  }
  Fail("unsupported operand types for " + op + ": '" + TypeName(a) + "' and '" + TypeName(b) + "'");
}

// a op b for + - *, or an error on 64-bit overflow.
int64_t CheckedInt(const std::string& op, int64_t a, int64_t b) {
  int64_t r = 0;
  const bool overflow = op == "+"   ? __builtin_add_overflow(a, b, &r)
                        : op == "-" ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
  if (overflow) Fail("integer overflow in " + op);
  return r;
}

Value Repeat(const Value& sequence, int64_t times, const Limits& limits) {
  if (times < 0) times = 0;
  if (sequence.IsString()) {
    if (static_cast<double>(sequence.text.size()) * static_cast<double>(times) > limits.max_string_bytes) {
      Fail("string repetition would exceed " + std::to_string(limits.max_string_bytes) + " bytes");
    }
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += sequence.text;
    return Value::String(std::move(out));
  }
  if (static_cast<double>(sequence.list->items.size()) * static_cast<double>(times) > limits.max_string_bytes) {
    Fail("list repetition too large");
  }
  std::vector<Value> items;
  for (int64_t i = 0; i < times; ++i) {
    items.insert(items.end(), sequence.list->items.begin(), sequence.list->items.end());
  }
  return Value::List(std::move(items), sequence.list->is_tuple);
}

Value Arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.IsInteger() && b.IsInteger()) {
    const int64_t x = a.AsInteger(), y = b.AsInteger();
    if (op == "+" || op == "-" || op == "*") return Value::Int(CheckedInt(op, x, y));
    if (op == "/") {
      if (y == 0) Fail("division by zero");
      return Value::Float(static_cast<double>(x) / static_cast<double>(y));
    }
    if (op == "//" || op == "%") {
      if (y == 0) Fail("integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) Fail("integer overflow in " + op);
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors; C++ truncates
        q -= 1;
        m += y;
      }
      return Value::Int(op == "//" ? q : m);
    }
    if (op == "**") {
      if (y < 0) return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
      int64_t result = 1;
      for (int64_t i = 0; i < y; ++i) {
        if (__builtin_mul_overflow(result, x, &result)) Fail("integer overflow in **");
        if (result == 0 || result == 1) break;
      }
      return Value::Int(result);
    }
  }
  const double x = a.AsDouble(), y = b.AsDouble();
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if (op == "**") return Value::Float(std::pow(x, y));
  if (y == 0) Fail("float division by zero");
  if (op == "/") return Value::Float(x / y);
  if (op == "//") return Value::Float(std::floor(x / y));
  double m = std::fmod(x, y);
  if (m != 0 && ((m < 0) != (y < 0))) m += y;
  return Value::Float(m);
}

}  // namespace

Value BinaryOp(const std::string& op, const Value& a, const Value& b, const Limits& limits) {
  if (op == "~") {
    std::string out = ToStr(a) + ToStr(b);
    if (static_cast<int64_t>(out.size()) > limits.max_string_bytes) Fail("string too long");
    return Value::String(std::move(out));
  }
  if (a.IsNumber() && b.IsNumber()) return Arithmetic(op, a, b);
  if (op == "+" && a.IsString() && b.IsString()) {
    if (static_cast<int64_t>(a.text.size() + b.text.size()) > limits.max_string_bytes) Fail("string too long");
    return Value::String(a.text + b.text);
  }
  if (op == "+" && a.IsList() && b.IsList() && a.list->is_tuple == b.list->is_tuple) {
    std::vector<Value> items = a.list->items;
    items.insert(items.end(), b.list->items.begin(), b.list->items.end());
    return Value::List(std::move(items), a.list->is_tuple);
  }
  if (op == "*" && (a.IsString() || a.IsList()) && b.IsInteger()) return Repeat(a, b.AsInteger(), limits);
  if (op == "*" && a.IsInteger() && (b.IsString() || b.IsList())) return Repeat(b, a.AsInteger(), limits);
  if (op == "%" && a.IsString()) Fail("string formatting with % is not supported");
  Unsupported(op, a, b);
}

bool Contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.IsString()) Fail(std::string("'in <string>' requires string as left operand, not ") + TypeName(item));
      return container.text.find(item.text) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : container.list->items) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict: return item.IsString() && container.dict->Find(item.text) != nullptr;
    default: Fail(std::string("argument of type '") + TypeName(container) + "' is not iterable");
  }
}

Value GetItem(const Value& object, const Value& key) {
  if (object.IsDict()) {
    if (key.IsString()) {
      if (const Value* v = object.dict->Find(key.text)) return *v;
      return GetAttribute(object, key.text);
    }
    return Value::Undefined();
  }
  if ((object.IsList() || object.IsString()) && key.IsInteger()) {
    int64_t i = key.AsInteger();
    if (object.IsList()) {
      const int64_t n = static_cast<int64_t>(object.list->items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::Undefined();
      return object.list->items[static_cast<size_t>(i)];
    }
    const std::u32string cps = DecodeUtf8(object.text);
    const int64_t n = static_cast<int64_t>(cps.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::Undefined();
    std::string one;
    AppendUtf8(cps[static_cast<size_t>(i)], one);
    return Value::String(std::move(one));
  }
  if (key.IsString()) return GetAttribute(object, key.text);
  if (object.IsUndefined()) Fail("'" + (object.text.empty() ? std::string("value") : object.text) + "' is undefined");
  return Value::Undefined();
}

Value Slice(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
            std::optional<int64_t> step) {
  const int64_t s = step.value_or(1);
  if (s == 0) Fail("slice step cannot be zero");
  std::u32string cps;
  int64_t n = 0;
  if (object.IsString()) {
    cps = DecodeUtf8(object.text);
    n = static_cast<int64_t>(cps.size());
  } else if (object.IsList()) {
    n = static_cast<int64_t>(object.list->items.size());
  } else {
    Fail(std::string("'") + TypeName(object) + "' object is not subscriptable");
  }
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> bound, int64_t missing) {
    if (!bound) return missing;
    int64_t v = *bound;
    if (v < 0) {
      v += n;
      if (v < 0) v = s < 0 ? -1 : 0;
    } else if (v >= n) {
      v = s < 0 ? n - 1 : n;
    }
    return v;
  };
  const int64_t first = adjust(start, s < 0 ? n - 1 : 0);
  const int64_t last = adjust(stop, s < 0 ? -1 : n);
  std::vector<int64_t> picked;
  for (int64_t i = first; s > 0 ? i < last : i > last; i += s) picked.push_back(i);
  if (object.IsString()) {
    std::u32string out;
    for (int64_t i : picked) out += cps[static_cast<size_t>(i)];
    return Value::String(EncodeUtf8(out));
  }
  std::vector<Value> items;
  for (int64_t i : picked) items.push_back(object.list->items[static_cast<size_t>(i)]);
  return Value::List(std::move(items), object.list->is_tuple);
}

}  // namespace fp4lab::jinja
