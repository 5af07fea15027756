#include "engine/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

namespace {

// Match data sized for the pattern, freed on scope exit.
struct MatchData {
  explicit MatchData(const pcre2_code* code) : data(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data); }
  pcre2_match_data* data;
};

}  // namespace

Result<std::shared_ptr<const Regex>> Regex::Compile(std::string_view pattern, bool literal) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);  // PCRE2 refuses UCP with LITERAL
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                   &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return Status::InvalidArgument("cannot compile regex \"" + std::string(pattern) + "\": " +
                                   reinterpret_cast<const char*>(message) + " at offset " +
                                   std::to_string(error_offset));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // without JIT support pcre2_match interprets; same results
  auto regex = std::shared_ptr<Regex>(new Regex());
  regex->code_ = code;
  regex->pattern_ = std::string(pattern);
  return std::shared_ptr<const Regex>(std::move(regex));
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::FindSegments(std::string_view text, std::vector<Segment>* segments) const {
  segments->clear();
  if (text.empty()) {
    segments->push_back({0, 0, false});
    return;
  }
  MatchData match(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t previous_end = 0;
  size_t search_from = 0;
  while (search_from <= text.size()) {
    const int rc = pcre2_match(code_, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK, match.data, nullptr);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH (or a resource limit: the rest is one gap, as if unmatched)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    const size_t begin = ovector[0], end = ovector[1];
    if (begin != previous_end) segments->push_back({previous_end, begin, false});
    segments->push_back({begin, end, true});
    previous_end = end;
    if (end == begin) {
      if (end >= text.size()) break;
      search_from = end + std::max(1, Utf8CharLength(text, end));
    } else {
      search_from = end;
    }
  }
  if (previous_end != text.size()) segments->push_back({previous_end, text.size(), false});
}

}  // namespace fp4lab::tokenizer
