// Errors and work limits of the Jinja interpreter (engine/chat/).
//
// Inside the interpreter an error is thrown as JinjaError and caught at the public boundary (jinja_template.h),
// which turns it into an InvalidArgument Status "<template name>:<line>:<column>: <message>". Nothing throws past
// jinja_template.h; the rest of the library sees only Status / Result.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace fp4lab::jinja {

// 1-based line and column (in bytes) of a construct in the template source; line 0 = not known yet.
struct SourcePos {
  int line = 0;
  int column = 0;
};

struct JinjaError {
  std::string message;
  SourcePos pos;  // filled in by the innermost construct that knows its position
};

[[noreturn]] inline void Fail(std::string message) { throw JinjaError{std::move(message), {}}; }
[[noreturn]] inline void FailAt(SourcePos pos, std::string message) { throw JinjaError{std::move(message), pos}; }

// Bounds that keep a hostile template from hanging the process or overflowing the stack. Real chat templates
// stay far below each of them (the bundled ones: nesting depth < 10, a few hundred steps, a few KB of output).
struct Limits {
  int max_parse_depth = 100;             // nested blocks + nested sub-expressions in the source
  int max_eval_depth = 1000;             // nested evaluation, macro calls included (about 1 KB of stack each)
  int64_t max_steps = 20'000'000;        // evaluated statements + expressions + loop iterations per render
  int64_t max_string_bytes = 64 << 20;   // any single string value, the output included
  int64_t max_range = 1'000'000;         // items one range() may produce
};

}  // namespace fp4lab::jinja
