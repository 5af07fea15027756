#include "engine/chat/jinja_json.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "engine/chat/jinja_error.h"

namespace fp4lab::jinja {

Value FromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::None();
    case nlohmann::ordered_json::value_t::boolean: return Value::Bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) Fail("integer too large: " + json.dump());
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::Float(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::String(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      for (const auto& item : json) items.push_back(FromJson(item));
      return Value::List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value dict = Value::Dict();
      for (const auto& [key, item] : json.items()) dict.dict->Set(key, FromJson(item));
      return dict;
    }
    default: Fail("unsupported JSON value: " + json.dump());
  }
}

namespace {

void DumpString(const std::string& s, std::string& out) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\u%04x", static_cast<unsigned>(c));
          out += hex;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void Dump(const Value& v, std::optional<int> indent, int depth, std::string& out) {
  if (depth > kMaxValueDepth) Fail("tojson: value nested too deeply");
  const std::string item_separator = indent ? "," : ", ";
  auto newline = [&](int level) {
    if (!indent) return;
    out += '\n';
    out.append(static_cast<size_t>(*indent) * static_cast<size_t>(level), ' ');
  };
  switch (v.kind) {
    case Value::Kind::kNone: out += "null"; return;
    case Value::Kind::kBool: out += v.boolean ? "true" : "false"; return;
    case Value::Kind::kInt: out += std::to_string(v.integer); return;
    case Value::Kind::kFloat:
      if (std::isnan(v.number)) {
        out += "NaN";
      } else if (std::isinf(v.number)) {
        out += v.number < 0 ? "-Infinity" : "Infinity";
      } else {
        out += FormatFloat(v.number);
      }
      return;
    case Value::Kind::kString: DumpString(v.text, out); return;
    case Value::Kind::kList: {
      if (v.list->items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < v.list->items.size(); ++i) {
        if (i) out += item_separator;
        newline(depth + 1);
        Dump(v.list->items[i], indent, depth + 1, out);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::kDict: {
      if (v.dict->is_namespace) Fail("tojson: Object of type Namespace is not JSON serializable");
      if (v.dict->entries.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.dict->entries) {
        if (!first) out += item_separator;
        first = false;
        newline(depth + 1);
        DumpString(key, out);
        out += ": ";
        Dump(item, indent, depth + 1, out);
      }
      newline(depth);
      out += '}';
      return;
    }
    default: Fail(std::string("tojson: Object of type ") + TypeName(v) + " is not JSON serializable");
  }
}

}  // namespace

std::string DumpJson(const Value& value, std::optional<int> indent) {
  std::string out;
  Dump(value, indent, 0, out);
  return out;
}

}  // namespace fp4lab::jinja
