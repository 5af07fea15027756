#include "engine/chat/jinja_evaluator.h"

#include "engine/chat/jinja_filters.h"
#include "engine/chat/jinja_methods.h"
#include "engine/chat/jinja_operators.h"

namespace fp4lab::jinja {

const Value* Scope::Lookup(const std::string& name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
    const auto it = s->variables.find(name);
    if (it != s->variables.end()) return &it->second;
  }
  return nullptr;
}

namespace {

using ScopePtr = std::shared_ptr<Scope>;

ScopePtr ChildOf(const ScopePtr& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  explicit Evaluator(const Limits& limits) : limits_(limits) {}

  std::string Run(const Body& body, const ScopePtr& globals) {
    std::string out;
    ExecBody(body, ChildOf(globals), out);
    return out;
  }

 private:
  // Counts nesting depth and steps; errors carry the position of the innermost node that failed.
  class Frame {
   public:
    Frame(Evaluator& e, SourcePos pos) : e_(e) {
      if (++e_.depth_ > e_.limits_.max_eval_depth) {
        FailAt(pos, "evaluation nested more than " + std::to_string(e_.limits_.max_eval_depth) +
                        " levels deep (runaway macro recursion?)");
      }
      if (++e_.steps_ > e_.limits_.max_steps) {
        FailAt(pos, "template exceeded " + std::to_string(e_.limits_.max_steps) + " evaluation steps");
      }
    }
    ~Frame() { --e_.depth_; }

   private:
    Evaluator& e_;
  };

  void Append(std::string& out, const std::string& text) {
    if (static_cast<int64_t>(out.size() + text.size()) > limits_.max_string_bytes) {
      Fail("output exceeds " + std::to_string(limits_.max_string_bytes) + " bytes");
    }
    out += text;
  }

  Flow ExecBody(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const NodePtr& node : body) {
      const Flow flow = Exec(*node, scope, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow Exec(const Node& node, const ScopePtr& scope, std::string& out) {
    Frame frame(*this, node.pos);
    try {
      return ExecNode(node, scope, out);
    } catch (JinjaError& error) {
      if (error.pos.line == 0) error.pos = node.pos;
      throw;
    }
  }

  Flow ExecNode(const Node& node, const ScopePtr& scope, std::string& out) {
    switch (node.kind) {
      case NodeKind::kText: Append(out, node.text); return Flow::kNormal;
      case NodeKind::kPrint: Append(out, ToStr(Eval(*node.expr, scope))); return Flow::kNormal;
      case NodeKind::kIf:
        for (const auto& [condition, body] : node.branches) {
          if (condition == nullptr || Truthy(Eval(*condition, scope))) return ExecBody(body, scope, out);
        }
        return Flow::kNormal;
      case NodeKind::kFor: ExecFor(node, scope, out); return Flow::kNormal;
      case NodeKind::kSet: ExecSet(node, scope); return Flow::kNormal;
      case NodeKind::kMacro: scope->variables[node.text] = MakeMacro(node, scope); return Flow::kNormal;
      case NodeKind::kCallBlock: Append(out, ToStr(CallWithCaller(node, scope))); return Flow::kNormal;
      case NodeKind::kBreak: return Flow::kBreak;
      case NodeKind::kContinue: return Flow::kContinue;
      case NodeKind::kGeneration: return ExecBody(node.body, ChildOf(scope), out);  // a call block: own scope
    }
    return Flow::kNormal;
  }

  void Bind(const std::vector<std::string>& targets, const Value& value, Scope& scope) {
    if (targets.size() == 1) {
      scope.variables[targets[0]] = value;
      return;
    }
    if (!value.IsList() || value.list->items.size() != targets.size()) {
      Fail("cannot unpack " + std::string(TypeName(value)) + " into " + std::to_string(targets.size()) + " names");
    }
    for (size_t i = 0; i < targets.size(); ++i) scope.variables[targets[i]] = value.list->items[i];
  }

  void ExecFor(const Node& node, const ScopePtr& scope, std::string& out) {
    std::vector<Value> items = IterationItems(Eval(*node.expr, scope));
    if (node.filter != nullptr) {
      std::vector<Value> kept;
      for (const Value& item : items) {
        ScopePtr filter_scope = ChildOf(scope);
        Bind(node.targets, item, *filter_scope);
        if (Truthy(Eval(*node.filter, filter_scope))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      ExecBody(node.else_body, ChildOf(scope), out);
      return;
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      if (++steps_ > limits_.max_steps) Fail("template exceeded " + std::to_string(limits_.max_steps) + " steps");
      ScopePtr iteration = ChildOf(scope);
      Bind(node.targets, items[static_cast<size_t>(i)], *iteration);
      Value loop = Value::Dict();
      DictData& l = *loop.dict;
      l.Set("index", Value::Int(i + 1));
      l.Set("index0", Value::Int(i));
      l.Set("revindex", Value::Int(n - i));
      l.Set("revindex0", Value::Int(n - i - 1));
      l.Set("first", Value::Bool(i == 0));
      l.Set("last", Value::Bool(i == n - 1));
      l.Set("length", Value::Int(n));
      l.Set("depth", Value::Int(1));
      l.Set("depth0", Value::Int(0));
      if (i > 0) l.Set("previtem", items[static_cast<size_t>(i - 1)]);
      if (i + 1 < n) l.Set("nextitem", items[static_cast<size_t>(i + 1)]);
      l.Set("cycle", Value::Function("loop.cycle", [i](CallArgs& args) {
              if (args.positional.empty()) Fail("loop.cycle() needs at least one value");
              return args.positional[static_cast<size_t>(i) % args.positional.size()];
            }));
      iteration->variables["loop"] = std::move(loop);
      if (ExecBody(node.body, iteration, out) == Flow::kBreak) break;
    }
  }

  void ExecSet(const Node& node, const ScopePtr& scope) {
    Value value;
    if (node.expr != nullptr) {
      value = Eval(*node.expr, scope);
    } else {
      std::string captured;
      ExecBody(node.body, scope, captured);
      value = Value::String(std::move(captured));
    }
    if (!node.text.empty()) {  // {% set ns.attribute = value %}
      const Value* target = scope->Lookup(node.targets[0]);
      if (target == nullptr || !target->IsDict() || !target->dict->is_namespace) {
        Fail("cannot assign attribute on '" + node.targets[0] + "': only namespace() objects take attributes");
      }
      target->dict->Set(node.text, std::move(value));
      return;
    }
    Bind(node.targets, value, *scope);
  }

  // A macro sees the scope it was defined in (held weakly: the scope owns the macro).
  Value MakeMacro(const Node& node, const ScopePtr& scope) {
    std::weak_ptr<Scope> defined_in = scope;
    const Node* macro = &node;
    return Value::Function(node.text, [this, macro, defined_in](CallArgs& args) {
      ScopePtr parent = defined_in.lock();
      if (parent == nullptr) Fail("macro '" + macro->text + "' called after its scope ended");
      return CallBody(*macro, macro->params, macro->body, parent, args, "macro '" + macro->text + "'");
    });
  }

  // Binds arguments to `params` in a new scope under `parent` and renders `body` into a string.
  Value CallBody(const Node& node, const std::vector<MacroParam>& params, const Body& body, const ScopePtr& parent,
                 CallArgs& args, const std::string& what) {
    Frame frame(*this, node.pos);
    ScopePtr local = ChildOf(parent);
    if (args.positional.size() > params.size()) {
      Fail(what + " takes " + std::to_string(params.size()) + " arguments, " +
           std::to_string(args.positional.size()) + " given");
    }
    std::vector<bool> given(params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      local->variables[params[i].name] = args.positional[i];
      given[i] = true;
    }
    for (auto& [key, value] : args.keyword) {
      if (key == "caller") {
        local->variables["caller"] = value;
        continue;
      }
      size_t i = 0;
      while (i < params.size() && params[i].name != key) ++i;
      if (i == params.size()) Fail(what + " has no parameter '" + key + "'");
      if (given[i]) Fail(what + " got multiple values for '" + key + "'");
      local->variables[key] = value;
      given[i] = true;
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (given[i]) continue;
      local->variables[params[i].name] =
          params[i].default_value ? Eval(*params[i].default_value, local) : Value::Undefined(params[i].name);
    }
    std::string out;
    ExecBody(body, local, out);
    return Value::String(std::move(out));
  }

  Value CallWithCaller(const Node& node, const ScopePtr& scope) {
    const Expr& call = *node.expr;
    Value callee = Eval(*call.children[0], scope);
    CallArgs args = EvalArgs(call.args, scope);
    std::weak_ptr<Scope> call_scope = scope;
    const Node* block = &node;
    args.keyword.emplace_back("caller", Value::Function("caller", [this, block, call_scope](CallArgs& caller_args) {
                                ScopePtr parent = call_scope.lock();
                                if (parent == nullptr) Fail("caller() used after its block ended");
                                return CallBody(*block, block->params, block->body, parent, caller_args, "caller()");
                              }));
    return CallValue(callee, args, call.children[0]->name);
  }

  Value CallValue(const Value& callee, CallArgs& args, const std::string& name) {
    if (callee.kind != Value::Kind::kCallable) {
      if (callee.IsUndefined()) {
        Fail("'" + (callee.text.empty() ? name : callee.text) + "' is undefined (cannot call it)");
      }
      Fail(std::string("'") + TypeName(callee) + "' object is not callable");
    }
    return callee.callable->call(args);
  }

  CallArgs EvalArgs(const Arguments& args, const ScopePtr& scope) {
    CallArgs out;
    for (const ExprPtr& e : args.positional) out.positional.push_back(Eval(*e, scope));
    for (const auto& [key, e] : args.keyword) out.keyword.emplace_back(key, Eval(*e, scope));
    return out;
  }

  Value Eval(const Expr& e, const ScopePtr& scope) {
    Frame frame(*this, e.pos);
    try {
      return EvalExpr(e, scope);
    } catch (JinjaError& error) {
      if (error.pos.line == 0) error.pos = e.pos;
      throw;
    }
  }

  std::optional<int64_t> SliceBound(const ExprPtr& e, const ScopePtr& scope) {
    if (e == nullptr) return std::nullopt;
    const Value v = Eval(*e, scope);
    if (v.IsNone()) return std::nullopt;
    if (!v.IsInteger()) Fail(std::string("slice indices must be integers or None, not ") + TypeName(v));
    return v.AsInteger();
  }

  Value EvalExpr(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case ExprKind::kLiteral: return e.literal;
      case ExprKind::kName: {
        const Value* v = scope->Lookup(e.name);
        return v != nullptr ? *v : Value::Undefined(e.name);
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        std::vector<Value> items;
        for (const ExprPtr& child : e.children) items.push_back(Eval(*child, scope));
        return Value::List(std::move(items), e.kind == ExprKind::kTuple);
      }
      case ExprKind::kDict: {
        Value dict = Value::Dict();
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          const Value key = Eval(*e.children[i], scope);
          if (!key.IsString()) FailAt(e.children[i]->pos, "dict keys must be strings here");
          dict.dict->Set(key.text, Eval(*e.children[i + 1], scope));
        }
        return dict;
      }
      case ExprKind::kAttribute: return GetAttribute(Eval(*e.children[0], scope), e.name);
      case ExprKind::kItem: {
        const Value object = Eval(*e.children[0], scope);
        if (object.IsUndefined()) {
          Fail("'" + (object.text.empty() ? std::string("value") : object.text) + "' is undefined (subscripted)");
        }
        return GetItem(object, Eval(*e.children[1], scope));
      }
      case ExprKind::kSlice: {
        const Value object = Eval(*e.children[0], scope);
        return Slice(object, SliceBound(e.children[1], scope), SliceBound(e.children[2], scope),
                     SliceBound(e.children[3], scope));
      }
      case ExprKind::kCall: {
        const Value callee = Eval(*e.children[0], scope);
        CallArgs args = EvalArgs(e.args, scope);
        return CallValue(callee, args, e.children[0]->name);
      }
      case ExprKind::kFilter: {
        const Value input = Eval(*e.children[0], scope);
        return ApplyFilter(e.name, input, EvalArgs(e.args, scope));
      }
      case ExprKind::kTest: {
        const Value input = Eval(*e.children[0], scope);
        return Value::Bool(ApplyTest(e.name, input, EvalArgs(e.args, scope)) != e.negated);
      }
      case ExprKind::kUnary: {
        const Value v = Eval(*e.children[0], scope);
        if (e.name == "not") return Value::Bool(!Truthy(v));
        if (!v.IsNumber()) Fail(std::string("bad operand type for unary ") + e.name + ": '" + TypeName(v) + "'");
        if (e.name == "+") return v.kind == Value::Kind::kBool ? Value::Int(v.AsInteger()) : v;
        if (v.kind == Value::Kind::kFloat) return Value::Float(-v.number);
        if (v.AsInteger() == INT64_MIN) Fail("integer overflow in unary -");
        return Value::Int(-v.AsInteger());
      }
      case ExprKind::kBinary: {
        Value left = Eval(*e.children[0], scope);
        if (e.name == "and") return Truthy(left) ? Eval(*e.children[1], scope) : left;
        if (e.name == "or") return Truthy(left) ? left : Eval(*e.children[1], scope);
        return BinaryOp(e.name, left, Eval(*e.children[1], scope), limits_);
      }
      case ExprKind::kCompare: {
        Value left = Eval(*e.children[0], scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = Eval(*e.children[i + 1], scope);
          const std::string& op = e.ops[i];
          bool result;
          if (op == "==") {
            result = Equals(left, right);
          } else if (op == "!=") {
            result = !Equals(left, right);
          } else if (op == "<") {
            result = LessThan(left, right);
          } else if (op == "<=") {
            result = !LessThan(right, left);
          } else if (op == ">") {
            result = LessThan(right, left);
          } else if (op == ">=") {
            result = !LessThan(left, right);
          } else if (op == "in") {
            result = Contains(right, left);
          } else {
            result = !Contains(right, left);
          }
          if (!result) return Value::Bool(false);
          left = std::move(right);
        }
        return Value::Bool(true);
      }
      case ExprKind::kConditional:
        if (Truthy(Eval(*e.children[0], scope))) return Eval(*e.children[1], scope);
        return e.children[2] ? Eval(*e.children[2], scope) : Value::Undefined();
    }
    return Value::Undefined();
  }

  const Limits& limits_;
  int depth_ = 0;
  int64_t steps_ = 0;
};

}  // namespace

std::string Evaluate(const Body& body, std::shared_ptr<Scope> globals, const Limits& limits) {
  return Evaluator(limits).Run(body, globals);
}

}  // namespace fp4lab::jinja
