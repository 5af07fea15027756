// Evaluator: walks the syntax tree with jinja2's semantics and writes the output.
//
// Scoping as in jinja2: each for-loop iteration, macro call and caller() body gets its own scope; if-blocks do
// not. `set` writes to the innermost scope (so a set inside a loop is gone after the iteration; namespace()
// objects carry state out of loops). Every step counts against Limits::max_steps, nesting against
// Limits::max_eval_depth, and strings against Limits::max_string_bytes.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "engine/chat/jinja_ast.h"

namespace fp4lab::jinja {

struct Scope {
  std::unordered_map<std::string, Value> variables;
  std::shared_ptr<Scope> parent;

  const Value* Lookup(const std::string& name) const;
};

// Renders `body` with `globals` as the outermost scope. Throws JinjaError with the position of the failing node.
std::string Evaluate(const Body& body, std::shared_ptr<Scope> globals, const Limits& limits);

}  // namespace fp4lab::jinja
