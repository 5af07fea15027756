// tokenizer.json "model" of type BPE (also the legacy form without "type"): a vocabulary, ranked merges, and the
// options Hugging Face tokenizers reads (unk_token, fuse_unk, byte_fallback, ignore_merges,
// continuing_subword_prefix, end_of_word_suffix). Thread-safe; results of short words are cached.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "engine/tokenizer/json_fields.h"

namespace fp4lab::tokenizer {

// Hash and equality that let unordered maps keyed by std::string be searched with a std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocabulary = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // `node` is the "model" object at `path`. InvalidArgument naming the field for a wrong type, a merge that is not
  // two tokens or names a token (or a merged token) missing from the vocabulary, and so on.
  static Result<std::unique_ptr<BpeModel>> Parse(const nlohmann::json& node, std::string_view path,
                                                 const JsonFields& fields);

  // Appends the ids of one pre-tokenized word. Fails only if the word needs unk_token and it is not in the
  // vocabulary.
  Status Tokenize(std::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // Null for an id outside the vocabulary.
  const std::string* IdToToken(int32_t id) const;
  // One more than the largest id.
  int32_t id_limit() const { return static_cast<int32_t>(tokens_.size()); }

 private:
  struct Merge {
    uint32_t rank;
    int32_t merged_id;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  const Merge* FindMerge(int32_t left, int32_t right) const;
  // The symbols of `word` before merging (characters, byte-fallback bytes, unk), then merged in rank order.
  Status MergeWord(std::string_view word, std::vector<int32_t>* ids) const;

  Vocabulary vocab_;
  std::vector<std::string> tokens_;  // by id; empty where the vocabulary has a gap
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::array<int32_t, 256> byte_token_ids_{};  // id of "<0xXX>" per byte, -1 if absent

  static constexpr size_t kCacheCapacity = 1 << 16;  // words
  static constexpr size_t kCachedWordMaxBytes = 256;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace fp4lab::tokenizer
