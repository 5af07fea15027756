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

// A JIT stack per thread that grows to 64 MiB (PCRE2's default is 32 KiB), so long inputs do not hit the limit.
struct JitStack {
  JitStack() : stack(pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr)),
               context(pcre2_match_context_create(nullptr)) {
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~JitStack() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
  static const JitStack& ForThisThread() {
    thread_local const JitStack jit_stack;
    return jit_stack;
  }
  pcre2_jit_stack* stack;
  pcre2_match_context* context;
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

Status Regex::FindSegments(std::string_view text, std::vector<Segment>* segments) const {
  segments->clear();
  if (text.empty()) {
    segments->push_back({0, 0, false});
    return Status::Ok();
  }
  MatchData match(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t previous_end = 0;
  size_t search_from = 0;
  while (search_from <= text.size()) {
    const int rc = pcre2_match(code_, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK, match.data,
                               JitStack::ForThisThread().context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      return Status::ResourceExhausted("tokenizer: regex \"" + pattern_ + "\" gave up on a text of " +
                                       std::to_string(text.size()) + " bytes: " +
                                       reinterpret_cast<const char*>(message));
    }
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
  return Status::Ok();
}

}  // namespace fp4lab::tokenizer
