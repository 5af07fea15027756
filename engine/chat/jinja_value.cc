#include "engine/chat/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_text.h"

namespace fp4lab::jinja {

const Value* DictData::Find(const std::string& key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void DictData::Set(const std::string& key, Value value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(key, std::move(value));
}

namespace {

// Moves the items of the lists and dicts that die with `data` into `pending` (those shared elsewhere stay).
void TakeItems(ListData& data, std::vector<Value>& pending) {
  for (Value& item : data.items) pending.push_back(std::move(item));
  data.items.clear();
}
void TakeItems(DictData& data, std::vector<Value>& pending) {
  for (auto& entry : data.entries) pending.push_back(std::move(entry.second));
  data.entries.clear();
}

}  // namespace

template <class Data>
void Value::DeleteNested(Data* data) {
  std::vector<Value> pending;
  TakeItems(*data, pending);
  delete data;
  while (!pending.empty()) {
    Value last = std::move(pending.back());
    pending.pop_back();
    // The last owner of a list or dict hands its items over, so it dies empty and its deleter does not recurse.
    if (last.list != nullptr && last.list.use_count() == 1) TakeItems(*last.list, pending);
    if (last.dict != nullptr && last.dict.use_count() == 1) TakeItems(*last.dict, pending);
  }
}
template void Value::DeleteNested<ListData>(ListData*);
template void Value::DeleteNested<DictData>(DictData*);

const char* TypeName(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "undefined";
    case Value::Kind::kNone: return "NoneType";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kList: return v.list->is_tuple ? "tuple" : "list";
    case Value::Kind::kDict: return v.dict->is_namespace ? "Namespace" : "dict";
    case Value::Kind::kCallable: return "function";
  }
  return "?";
}

bool Truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return false;
    case Value::Kind::kBool: return v.boolean;
    case Value::Kind::kInt: return v.integer != 0;
    case Value::Kind::kFloat: return v.number != 0;
    case Value::Kind::kString: return !v.text.empty();
    case Value::Kind::kList: return !v.list->items.empty();
    case Value::Kind::kDict: return v.dict->is_namespace || !v.dict->entries.empty();
    case Value::Kind::kCallable: return true;
  }
  return false;
}

std::string FormatFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then laid out as Python's repr lays them out.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, end);  // "-1.2345e+02"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  if (exponent >= -4 && exponent < 16) {  // Python: fixed notation for 1e-4 <= |d| < 1e16
    std::string out;
    if (exponent < 0) {
      out = "0." + std::string(-exponent - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out = digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
    return sign + out;
  }
  std::string mantissa = digits.substr(0, 1);
  if (digits.size() > 1) mantissa += "." + digits.substr(1);
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return sign + mantissa + exp_text;
}

namespace {

std::string ReprString(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char quote = use_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : DecodeUtf8(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || (c >= 0x7F && c < 0xA0)) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned>(c));
      out += hex;
    } else {
      AppendUtf8(c, out);
    }
  }
  out += quote;
  return out;
}

// Called on entering a list or dict `depth` levels deep in one of the recursive walks below.
void CheckValueDepth(int depth, const char* walk) {
  if (depth > kMaxValueDepth) {
    Fail(std::string(walk) + ": value nested more than " + std::to_string(kMaxValueDepth) +
         " levels deep (or containing itself)");
  }
}

std::string Repr(const Value& v, int depth) {
  switch (v.kind) {
    case Value::Kind::kString: return ReprString(v.text);
    case Value::Kind::kList: {
      CheckValueDepth(depth, "repr");
      std::string out = v.list->is_tuple ? "(" : "[";
      for (size_t i = 0; i < v.list->items.size(); ++i) {
        if (i) out += ", ";
        out += Repr(v.list->items[i], depth + 1);
      }
      if (v.list->is_tuple && v.list->items.size() == 1) out += ",";
      return out + (v.list->is_tuple ? ")" : "]");
    }
    case Value::Kind::kDict: {
      if (v.dict->is_namespace) return "<Namespace>";
      CheckValueDepth(depth, "repr");
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : v.dict->entries) {
        if (!first) out += ", ";
        first = false;
        out += ReprString(key) + ": " + Repr(item, depth + 1);
      }
      return out + "}";
    }
    default: return ToStr(v);
  }
}

bool Equals(const Value& a, const Value& b, int depth) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsInteger() && b.IsInteger()) return a.AsInteger() == b.AsInteger();
    return a.AsDouble() == b.AsDouble();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.text == b.text;
    case Value::Kind::kList: {
      if (a.list->items.size() != b.list->items.size()) return false;
      CheckValueDepth(depth, "==");
      for (size_t i = 0; i < a.list->items.size(); ++i) {
        if (!Equals(a.list->items[i], b.list->items[i], depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict->is_namespace || b.dict->is_namespace) return a.dict == b.dict;
      if (a.dict->entries.size() != b.dict->entries.size()) return false;
      CheckValueDepth(depth, "==");
      for (const auto& [key, item] : a.dict->entries) {
        const Value* other = b.dict->Find(key);
        if (other == nullptr || !Equals(item, *other, depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kCallable: return a.callable == b.callable;
    default: return false;
  }
}

bool LessThan(const Value& a, const Value& b, int depth) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.IsInteger() && b.IsInteger()) return a.AsInteger() < b.AsInteger();
    return a.AsDouble() < b.AsDouble();
  }
  if (a.IsString() && b.IsString()) return a.text < b.text;  // UTF-8 byte order = code point order
  if (a.IsList() && b.IsList()) {
    CheckValueDepth(depth, "<");
    const auto& x = a.list->items;
    const auto& y = b.list->items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!Equals(x[i], y[i], depth + 1)) return LessThan(x[i], y[i], depth + 1);
    }
    return x.size() < y.size();
  }
  Fail(std::string("cannot order ") + TypeName(a) + " and " + TypeName(b));
}

}  // namespace

std::string Repr(const Value& v) { return Repr(v, 1); }

std::string ToStr(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.boolean ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.integer);
    case Value::Kind::kFloat: return FormatFloat(v.number);
    case Value::Kind::kString: return v.text;
    case Value::Kind::kList:
    case Value::Kind::kDict: return Repr(v);
    case Value::Kind::kCallable: return "<function " + v.callable->name + ">";
  }
  return "";
}

bool Equals(const Value& a, const Value& b) { return Equals(a, b, 1); }

bool LessThan(const Value& a, const Value& b) { return LessThan(a, b, 1); }

std::vector<Value> IterationItems(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kList: return v.list->items;
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& entry : v.dict->entries) keys.push_back(Value::String(entry.first));
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      for (char32_t c : DecodeUtf8(v.text)) {
        std::string one;
        AppendUtf8(c, one);
        chars.push_back(Value::String(std::move(one)));
      }
      return chars;
    }
    default: Fail(std::string("'") + TypeName(v) + "' object is not iterable");
  }
}

int64_t Length(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(DecodeUtf8(v.text).size());
    case Value::Kind::kList: return static_cast<int64_t>(v.list->items.size());
    case Value::Kind::kDict: return static_cast<int64_t>(v.dict->entries.size());
    default: Fail(std::string("object of type '") + TypeName(v) + "' has no len()");
  }
}

}  // namespace fp4lab::jinja
