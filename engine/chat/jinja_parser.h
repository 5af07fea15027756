// Parser: tokens -> syntax tree, following jinja2's grammar and operator precedence (lowest first):
//   a if c else b  <  or  <  and  <  not  <  comparisons (== != < <= > >= in, not in; chained)  <  + -  <  ~  <
//   * / // %  <  **  <  unary - +  <  postfix (.attr [index] [a:b:c] (call)), then | filter and `is` tests.
// Statements: if/elif/else, for (tuple targets, `if` filter, else), set (plain, tuple, ns.attr, block),
// macro, call, break, continue and transformers' generation block. Anything else is an error with its position.
#pragma once

#include <vector>

#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_lexer.h"

namespace fp4lab::jinja {

// Throws JinjaError with the position of the offending token.
Body Parse(const std::vector<Token>& tokens, const Limits& limits);

}  // namespace fp4lab::jinja
