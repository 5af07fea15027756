#include "engine/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <array>

#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

// A byte trie over token contents; Find gives the leftmost-longest match.
class AddedVocabulary::Trie {
 public:
  void Insert(std::string_view key, size_t token_index) {
    int32_t node = 0;
    for (const char c : key) {
      const uint64_t edge = EdgeKey(node, c);
      auto it = edges_.find(edge);
      if (it == edges_.end()) {
        it = edges_.emplace(edge, static_cast<int32_t>(token_at_node_.size())).first;
        token_at_node_.push_back(-1);
      }
      node = it->second;
    }
    if (token_at_node_[node] < 0) token_at_node_[node] = static_cast<int64_t>(token_index);  // first one wins
    first_bytes_[static_cast<unsigned char>(key[0])] = true;
  }

  // The first match at or after `from`: the earliest start, the longest there. Returns false when there is none.
  bool Find(std::string_view text, size_t from, size_t* begin, size_t* end, size_t* token_index) const {
    for (size_t start = from; start < text.size(); ++start) {
      if (!first_bytes_[static_cast<unsigned char>(text[start])]) continue;
      int32_t node = 0;
      int64_t best = -1;
      size_t best_end = 0;
      for (size_t pos = start; pos < text.size(); ++pos) {
        const auto it = edges_.find(EdgeKey(node, text[pos]));
        if (it == edges_.end()) break;
        node = it->second;
        if (token_at_node_[node] >= 0) {
          best = token_at_node_[node];
          best_end = pos + 1;
        }
      }
      if (best >= 0) {
        *begin = start;
        *end = best_end;
        *token_index = static_cast<size_t>(best);
        return true;
      }
    }
    return false;
  }

 private:
  static uint64_t EdgeKey(int32_t node, char c) {
    return (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(c);
  }
  std::unordered_map<uint64_t, int32_t> edges_;  // (node, byte) -> child node
  std::vector<int64_t> token_at_node_{-1};       // token index ending at each node, -1 if none; node 0 is the root
  std::array<bool, 256> first_bytes_{};          // bytes some key starts with
};

AddedVocabulary::AddedVocabulary() = default;
AddedVocabulary::~AddedVocabulary() = default;
AddedVocabulary::AddedVocabulary(AddedVocabulary&&) noexcept = default;
AddedVocabulary& AddedVocabulary::operator=(AddedVocabulary&&) noexcept = default;

Result<AddedVocabulary> AddedVocabulary::Parse(const nlohmann::json& list, std::string_view path,
                                               const JsonFields& fields, const Normalizer* normalizer) {
  if (!list.is_array()) return fields.TypeError(path, "a list of added tokens", list);
  AddedVocabulary vocabulary;
  vocabulary.raw_trie_ = std::make_unique<Trie>();
  vocabulary.normalized_trie_ = std::make_unique<Trie>();
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = IndexPath(path, i);
    const nlohmann::json& item = list[i];
    AddedToken token;
    FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* id, fields.Required(item, item_path, "id", "an integer id"));
    if (!id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= (int64_t{1} << 31)) {
      return fields.TypeError(JoinPath(item_path, "id"), "a non-negative integer", *id);
    }
    token.id = static_cast<int32_t>(id->get<int64_t>());
    FP4LAB_ASSIGN_OR_RETURN(token.content, fields.RequiredString(item, item_path, "content"));
    FP4LAB_ASSIGN_OR_RETURN(token.single_word, fields.OptionalBool(item, item_path, "single_word", false));
    FP4LAB_ASSIGN_OR_RETURN(token.lstrip, fields.OptionalBool(item, item_path, "lstrip", false));
    FP4LAB_ASSIGN_OR_RETURN(token.rstrip, fields.OptionalBool(item, item_path, "rstrip", false));
    FP4LAB_ASSIGN_OR_RETURN(token.special, fields.OptionalBool(item, item_path, "special", false));
    FP4LAB_ASSIGN_OR_RETURN(token.normalized, fields.OptionalBool(item, item_path, "normalized", !token.special));
    vocabulary.index_by_id_[token.id] = vocabulary.tokens_.size();
    vocabulary.tokens_.push_back(std::move(token));
  }
  for (size_t i = 0; i < vocabulary.tokens_.size(); ++i) {
    const AddedToken& token = vocabulary.tokens_[i];
    if (token.content.empty()) continue;
    if (!token.normalized) {
      vocabulary.raw_trie_->Insert(token.content, i);
      continue;
    }
    std::string key = token.content;
    if (normalizer != nullptr) {
      const Status normalized = normalizer->Normalize(&key);
      if (!normalized.ok()) return fields.Error(JoinPath(IndexPath(path, i), "content"), normalized.message());
    }
    if (!key.empty()) vocabulary.normalized_trie_->Insert(key, i);
  }
  return vocabulary;
}

namespace {

// The code point ending just before byte `end` of `text` (valid UTF-8), and where it starts.
char32_t CharBefore(std::string_view text, size_t end, size_t* start) {
  size_t s = end - 1;
  while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
  char32_t c = 0;
  DecodeUtf8(text, s, &c);
  *start = s;
  return c;
}

}  // namespace

void AddedVocabulary::Split(std::string_view text, bool normalized, std::vector<AddedTokenSplit>* splits) const {
  splits->clear();
  if (text.empty()) return;
  const Trie& trie = normalized ? *normalized_trie_ : *raw_trie_;
  size_t start_offset = 0;  // end of the previous added token
  size_t search_from = 0;
  size_t begin, end, index;
  while (search_from < text.size() && trie.Find(text, search_from, &begin, &end, &index)) {
    search_from = end;  // matches never overlap, whatever lstrip/rstrip do to the token's span below
    const AddedToken& token = tokens_[index];
    if (token.single_word) {
      char32_t c;
      size_t unused;
      const bool word_before = begin > 0 && IsWordChar(CharBefore(text, begin, &unused));
      const bool word_after = end < text.size() && DecodeUtf8(text, end, &c) > 0 && IsWordChar(c);
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      size_t new_begin = begin;
      while (new_begin > 0) {
        size_t char_start;
        if (!IsWhitespace(CharBefore(text, new_begin, &char_start))) break;
        new_begin = char_start;
      }
      begin = std::max(new_begin, start_offset);
    }
    if (token.rstrip) {
      char32_t c;
      while (end < text.size()) {
        const int length = DecodeUtf8(text, end, &c);
        if (length == 0 || !IsWhitespace(c)) break;
        end += length;
      }
    }
    if (start_offset < begin) splits->push_back({start_offset, begin, -1});
    splits->push_back({begin, end, token.id});
    start_offset = end;
  }
  if (start_offset < text.size()) splits->push_back({start_offset, text.size(), -1});
}

const AddedToken* AddedVocabulary::FindById(int32_t id) const {
  const auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::FindByContent(std::string_view content) const {
  for (const AddedToken& token : tokens_) {
    if (token.content == content) return &token;
  }
  return nullptr;
}

}  // namespace fp4lab::tokenizer
