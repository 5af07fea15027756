// Lexer: template source -> tokens, with jinja2's whitespace rules as transformers configures them
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False):
//  - "\r\n" and "\r" become "\n", and one newline at the very end of the template is dropped;
//  - "{%-", "{{-", "{#-" strip all whitespace before the tag; "-%}", "-}}", "-#}" all whitespace after it;
//  - trim_blocks: a newline right after "%}" or "#}" is dropped ("+%}" keeps it);
//  - lstrip_blocks: spaces and tabs between the start of a line and "{%" or "{#" are dropped ("{%+" keeps them).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/jinja_error.h"

namespace fp4lab::jinja {

enum class TokenType {
  kText,        // literal template text (value = the text)
  kPrintBegin,  // {{
  kPrintEnd,    // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifier or keyword (value = the name)
  kString,      // string literal (value = the decoded string)
  kInteger,     // value = digits (underscores removed)
  kFloat,       // value = the literal (underscores removed)
  kOperator,    // value = the operator: + - * / // % ** ~ == != < > <= >= = . , : | ( ) [ ] { }
  kEnd,         // end of the template
};

struct Token {
  TokenType type;
  std::string value;
  SourcePos pos;
};

// Throws JinjaError (with the position) on an unterminated tag, comment or string, or a character that starts no
// token.
std::vector<Token> Tokenize(std::string_view source);

}  // namespace fp4lab::jinja
