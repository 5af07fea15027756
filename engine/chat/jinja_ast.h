// The syntax tree the parser builds and the evaluator walks. Every node keeps its source position for messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_value.h"

namespace fp4lab::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,      // literal
  kName,         // name
  kList,         // children = items
  kTuple,        // children = items
  kDict,         // children = key, value, key, value, ...
  kAttribute,    // children[0].name
  kItem,         // children[0][children[1]]
  kSlice,        // children[0][children[1]:children[2]:children[3]] (null child = omitted)
  kCall,         // children[0](args)
  kFilter,       // children[0] | name(args)
  kTest,         // children[0] is [not] name(args); negated
  kUnary,        // name in {"-", "+", "not"}, children[0]
  kBinary,       // children[0] name children[1]; name in {+ - * / // % ** ~ and or}
  kCompare,      // children[0] ops[0] children[1] ops[1] children[2] ... (chained like Python)
  kConditional,  // children[1] if children[0] else children[2] (children[2] null: undefined)
};

// Arguments of a call, filter or test: positional first, then keyword.
struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Expr {
  ExprKind kind;
  SourcePos pos;
  std::string name;  // kName, kAttribute, kFilter, kTest: the name; kUnary, kBinary: the operator
  Value literal;     // kLiteral
  std::vector<ExprPtr> children;
  Arguments args;                // kCall, kFilter, kTest
  std::vector<std::string> ops;  // kCompare: == != < <= > >= in "not in"
  bool negated = false;          // kTest
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  kText,        // text
  kPrint,       // {{ expr }}
  kIf,          // branches: (condition, body)...; a null condition = else
  kFor,         // {% for targets in expr [if filter] %} body [else else_body] {% endfor %}
  kSet,         // {% set targets = expr %} or {% set target.attribute = expr %} or block set (body)
  kMacro,       // {% macro name(params) %} body {% endmacro %}
  kCallBlock,   // {% call(params) expr %} body {% endcall %}
  kBreak,
  kContinue,
  kGeneration,  // transformers' {% generation %} body {% endgeneration %}: renders the body in a scope of its own
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Node {
  NodeKind kind;
  SourcePos pos;
  std::string text;                  // kText; kMacro: the macro name; kSet: the attribute of ns.attribute
  ExprPtr expr;                      // kPrint, kFor (iterable), kSet (value), kCallBlock (the call)
  ExprPtr filter;                    // kFor: the `if` filter
  std::vector<std::string> targets;  // kFor, kSet: names (several = tuple unpacking)
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf
  Body body;                         // kFor, kSet (block set), kMacro, kCallBlock, kGeneration
  Body else_body;                    // kFor
  std::vector<MacroParam> params;    // kMacro, kCallBlock
};

}  // namespace fp4lab::jinja
