// Regular expressions of tokenizer.json (Split pre-tokenizers, Replace normalizers and decoders) run with PCRE2 in
// UTF mode with Unicode properties (\p{L}, \s and \w over all of Unicode), JIT-compiled.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

struct pcre2_real_code_8;

namespace fp4lab::tokenizer {

// A byte range [begin, end) of a string; `is_match` says whether the pattern matched it or it lies between matches.
struct Segment {
  size_t begin = 0;
  size_t end = 0;
  bool is_match = false;
};

class Regex {
 public:
  // Compiles `pattern`, a regular expression, or with `literal` the exact text to find. InvalidArgument with
  // PCRE2's message and the character offset of the error.
  static Result<std::shared_ptr<const Regex>> Compile(std::string_view pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Hugging Face's Pattern::find_matches: the matches, left to right and non-overlapping, with the gaps between
  // them, covering all of `text` (which must be valid UTF-8). An empty text gives one empty non-match. An empty
  // match is kept and the search resumes one character later. ResourceExhausted if PCRE2 gives up (a match or
  // stack limit), never a silently different split.
  Status FindSegments(std::string_view text, std::vector<Segment>* segments) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  pcre2_real_code_8* code_ = nullptr;
  std::string pattern_;
};

}  // namespace fp4lab::tokenizer
