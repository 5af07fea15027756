// libFuzzer target: tokenizer.json. The input is parsed with HfTokenizer::Parse; a tokenizer that parses encodes a
// few fixed texts (ASCII, CJK, emoji, control characters, a long run of spaces) with and without special tokens, and
// decodes the ids it produced, with and without skipping special tokens, plus ids it cannot know (negative, past
// id_limit). Errors (a regex giving up, invalid UTF-8 made by a normalizer) are fine; crashes, leaks, UB and
// timeouts are not.
//
// Work per input is bounded by the texts being short and fixed: a regex's backtracking is capped by PCRE2's match
// and depth limits (engine/tokenizer/regex.cc turns hitting them into ResourceExhausted), and BPE work is at most
// quadratic in a word of a few hundred bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/hf_tokenizer.h"

namespace {

const char* const kTexts[] = {
    "Hello, world! It's 2024-06-01: 12345 apples.",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe6\x96\x87\xe7\xab\xa0\xe3\x80\x82",  // 日本語の文章。
    "emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xe2\x80\x8d flags \xf0\x9f\x87\xaf\xf0\x9f\x87\xb5",
    "tab\tnewline\nnul\x01\x1f del\x7f cr\r\n nbsp\xc2\xa0 bom\xef\xbb\xbf",
    "                                                                                                    x",
    "",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tokenizer = fp4lab::tokenizer::HfTokenizer::Parse(text, "tokenizer.json");
  if (!tokenizer.ok()) return 0;
  const fp4lab::tokenizer::HfTokenizer& tok = **tokenizer;
  for (const char* sample : kTexts) {
    for (const bool add_special_tokens : {false, true}) {
      auto ids = tok.Encode(sample, add_special_tokens);
      if (!ids.ok()) continue;
      for (const int32_t id : *ids) (void)tok.IdToToken(id);
      for (const bool skip_special_tokens : {false, true}) (void)tok.Decode(*ids, skip_special_tokens);
    }
  }
  const std::vector<int32_t> unknown_ids = {-1, tok.id_limit(), INT32_MAX, 0};
  (void)tok.Decode(unknown_ids, false);
  return 0;
}
