#include "engine/chat/jinja_template.h"

#include "engine/chat/jinja_args.h"
#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_evaluator.h"
#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_lexer.h"
#include "engine/chat/jinja_parser.h"

namespace fp4lab::jinja {

namespace {

Status ToStatus(const std::string& name, const JinjaError& error) {
  std::string where = name;
  if (error.pos.line > 0) where += ":" + std::to_string(error.pos.line) + ":" + std::to_string(error.pos.column);
  return Status::InvalidArgument(where + ": " + error.message);
}

// The functions transformers' chat-template environment offers (jinja2's defaults plus raise_exception).
std::shared_ptr<Scope> MakeGlobals(const Limits& limits) {
  auto globals = std::make_shared<Scope>();
  globals->variables["raise_exception"] = Value::Function("raise_exception", [](CallArgs& args) -> Value {
    auto a = BindArgs("raise_exception", args, {"message"});
    Fail("raise_exception: " + (a[0] ? ToStr(*a[0]) : std::string()));
  });
  globals->variables["range"] = Value::Function("range", [limits](CallArgs& args) {
    auto a = BindArgs("range", args, {"start", "stop", "step"});
    int64_t start = 0, stop = 0, step = 1;
    if (!a[0]) Fail("range() needs at least one argument");
    if (a[1]) {
      start = IntArg("range", "start", a[0], 0);
      stop = IntArg("range", "stop", a[1], 0);
      step = IntArg("range", "step", a[2], 1);
    } else {
      stop = IntArg("range", "stop", a[0], 0);
    }
    if (step == 0) Fail("range() step must not be zero");
    std::vector<Value> items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (static_cast<int64_t>(items.size()) >= limits.max_range) {
        Fail("range() would produce more than " + std::to_string(limits.max_range) + " items");
      }
      items.push_back(Value::Int(i));
    }
    return Value::List(std::move(items));
  });
  auto make_dict = [](bool is_namespace) {
    return [is_namespace](CallArgs& args) {
      Value dict = Value::Dict();
      dict.dict->is_namespace = is_namespace;
      const char* name = is_namespace ? "namespace" : "dict";
      if (args.positional.size() > 1) Fail(std::string(name) + "() takes at most one positional argument");
      if (!args.positional.empty()) {
        if (!args.positional[0].IsDict()) Fail(std::string(name) + "() expects a mapping");
        for (const auto& [key, value] : args.positional[0].dict->entries) dict.dict->Set(key, value);
      }
      for (const auto& [key, value] : args.keyword) dict.dict->Set(key, value);
      return dict;
    };
  };
  globals->variables["namespace"] = Value::Function("namespace", make_dict(true));
  globals->variables["dict"] = Value::Function("dict", make_dict(false));
  return globals;
}

}  // namespace

Result<Template> Template::Parse(const std::string& source, const std::string& name, const Limits& limits) {
  Template t;
  t.name_ = name;
  t.limits_ = limits;
  try {
    t.body_ = std::make_shared<const Body>(jinja::Parse(Tokenize(source), limits));
  } catch (const JinjaError& error) {
    return ToStatus(name, error);
  }
  return t;
}

Result<std::string> Template::Render(const nlohmann::ordered_json& variables) const {
  if (!variables.is_object()) return Status::InvalidArgument(name_ + ": template variables must be a JSON object");
  try {
    auto context = std::make_shared<Scope>();
    context->parent = MakeGlobals(limits_);
    for (const auto& [key, value] : variables.items()) context->variables[key] = FromJson(value);
    return Evaluate(*body_, context, limits_);
  } catch (const JinjaError& error) {
    return ToStatus(name_, error);
  }
}

}  // namespace fp4lab::jinja
