// tokenizer.json "added_tokens": tokens found in the input text before the model sees it, matched the way Hugging
// Face tokenizers matches them: leftmost-longest over all contents, `normalized: false` tokens on the raw text and
// `normalized: true` tokens on the normalized text, with single_word, lstrip and rstrip.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "engine/tokenizer/json_fields.h"
#include "engine/tokenizer/normalizer.h"

namespace fp4lab::tokenizer {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A byte range of the text searched, and the added token found there (-1 for text between added tokens).
struct AddedTokenSplit {
  size_t begin = 0;
  size_t end = 0;
  int32_t token_id = -1;
};

class AddedVocabulary {
 public:
  // `list` is the "added_tokens" array at `path`; normalized tokens are matched in their normalized form.
  static Result<AddedVocabulary> Parse(const nlohmann::json& list, std::string_view path, const JsonFields& fields,
                                       const Normalizer* normalizer);
  AddedVocabulary();
  ~AddedVocabulary();
  AddedVocabulary(AddedVocabulary&&) noexcept;
  AddedVocabulary& operator=(AddedVocabulary&&) noexcept;

  // Splits `text` into added tokens and the text between them, covering all of it (Hugging Face's find_matches);
  // `normalized` picks the tokens matched after normalization. An empty text gives no splits.
  void Split(std::string_view text, bool normalized, std::vector<AddedTokenSplit>* splits) const;

  const AddedToken* FindById(int32_t id) const;
  const AddedToken* FindByContent(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  class Trie;
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> index_by_id_;
  std::unique_ptr<Trie> raw_trie_;         // normalized == false
  std::unique_ptr<Trie> normalized_trie_;  // normalized == true, keyed by the normalized content
};

}  // namespace fp4lab::tokenizer
