#include "engine/tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

namespace {

// Merges as ["a", "b"] pairs or as "a b" strings (exactly one space).
Result<std::vector<std::pair<std::string, std::string>>> ParseMerges(const nlohmann::json& list, std::string_view path,
                                                                     const JsonFields& fields) {
  if (!list.is_array()) return fields.TypeError(path, "a list of merges", list);
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& merge = list[i];
    if (merge.is_string()) {
      const std::string& text = merge.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        return fields.Error(IndexPath(path, i), "expected \"left right\" (two tokens and one space), got \"" + text +
                                                    "\"");
      }
      merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return fields.Error(IndexPath(path, i), "expected \"left right\" or [\"left\", \"right\"], got " +
                                                  merge.dump().substr(0, 80));
    }
  }
  return merges;
}

// A symbol of a word being merged: a token id over a byte range, linked to its live neighbours.
struct Symbol {
  int32_t id;
  int32_t previous;  // index of the live symbol on the left, -1 if none
  int32_t next;      // index on the right, -1 if none
  bool removed;      // merged into its left neighbour
};

// A candidate merge of the symbol at `position` with its right neighbour. Ordered by rank, then position.
struct Candidate {
  uint32_t rank;
  int32_t position;
  int32_t merged_id;
  bool operator>(const Candidate& other) const {
    return rank != other.rank ? rank > other.rank : position > other.position;
  }
};

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::Parse(const nlohmann::json& node, std::string_view path,
                                                  const JsonFields& fields) {
  auto model = std::unique_ptr<BpeModel>(new BpeModel());
  const std::string vocab_path = JoinPath(path, "vocab");
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* vocab, fields.Required(node, path, "vocab", "an object"));
  if (!vocab->is_object()) return fields.TypeError(vocab_path, "an object of token: id", *vocab);
  model->vocab_.reserve(vocab->size());
  for (const auto& [token, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 31)) {
      return fields.Error(JoinPath(vocab_path, token), "expected a non-negative integer id, got " + id.dump());
    }
    const auto value = static_cast<int32_t>(id.get<int64_t>());
    model->vocab_[token] = value;
    if (static_cast<size_t>(value) >= model->tokens_.size()) model->tokens_.resize(value + 1);
    model->tokens_[value] = token;
  }

  FP4LAB_ASSIGN_OR_RETURN(const std::string unk, fields.OptionalString(node, path, "unk_token", ""));
  if (node.contains("unk_token") && !node["unk_token"].is_null()) model->unk_token_ = unk;
  FP4LAB_ASSIGN_OR_RETURN(model->continuing_subword_prefix_,
                          fields.OptionalString(node, path, "continuing_subword_prefix", ""));
  FP4LAB_ASSIGN_OR_RETURN(model->end_of_word_suffix_, fields.OptionalString(node, path, "end_of_word_suffix", ""));
  FP4LAB_ASSIGN_OR_RETURN(model->fuse_unk_, fields.OptionalBool(node, path, "fuse_unk", false));
  FP4LAB_ASSIGN_OR_RETURN(model->byte_fallback_, fields.OptionalBool(node, path, "byte_fallback", false));
  FP4LAB_ASSIGN_OR_RETURN(model->ignore_merges_, fields.OptionalBool(node, path, "ignore_merges", false));
  if (node.contains("dropout") && !node["dropout"].is_null()) {
    const nlohmann::json& dropout = node["dropout"];
    if (!dropout.is_number() || dropout.get<double>() != 0.0) {
      return fields.Error(JoinPath(path, "dropout"), "expected null (BPE dropout is random; fp4lab encodes "
                                                     "deterministically), got " + dropout.dump());
    }
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const auto it = model->vocab_.find(std::string_view(name));
    model->byte_token_ids_[b] = it == model->vocab_.end() ? -1 : it->second;
  }

  const std::string merges_path = JoinPath(path, "merges");
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* merges_node, fields.Required(node, path, "merges", "a list"));
  FP4LAB_ASSIGN_OR_RETURN(const auto merges, ParseMerges(*merges_node, merges_path, fields));
  model->merges_.reserve(merges.size());
  const size_t prefix_length = model->continuing_subword_prefix_.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto left_it = model->vocab_.find(left);
    const auto right_it = model->vocab_.find(right);
    const auto missing = [&](const std::string& token) {
      return fields.Error(IndexPath(merges_path, rank), "token \"" + token + "\" is not in " + vocab_path);
    };
    if (left_it == model->vocab_.end()) return missing(left);
    if (right_it == model->vocab_.end()) return missing(right);
    // The right part loses its continuing-subword prefix when merged (as Hugging Face builds the merged token).
    const std::string merged = left + (right.compare(0, prefix_length, model->continuing_subword_prefix_) == 0
                                           ? right.substr(prefix_length)
                                           : right);
    const auto merged_it = model->vocab_.find(merged);
    if (merged_it == model->vocab_.end()) return missing(merged);
    model->merges_[PairKey(left_it->second, right_it->second)] = {static_cast<uint32_t>(rank), merged_it->second};
  }
  return model;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) return nullptr;
  const auto it = vocab_.find(tokens_[id]);
  return it != vocab_.end() && it->second == id ? &tokens_[id] : nullptr;
}

const BpeModel::Merge* BpeModel::FindMerge(int32_t left, int32_t right) const {
  const auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

Status BpeModel::Tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (ignore_merges_) {
    if (auto id = TokenToId(word)) {
      ids->push_back(*id);
      return Status::Ok();
    }
  }
  const bool cacheable = word.size() < kCachedWordMaxBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return Status::Ok();
    }
  }
  std::vector<int32_t> word_ids;
  FP4LAB_RETURN_IF_ERROR(MergeWord(word, &word_ids));
  ids->insert(ids->end(), word_ids.begin(), word_ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(word_ids));
  }
  return Status::Ok();
}

Status BpeModel::MergeWord(std::string_view word, std::vector<int32_t>* ids) const {
  // 1. One symbol per character (with the continuing-subword prefix after the first and the end-of-word suffix on
  // the last), its "<0xXX>" bytes when absent and byte_fallback is on, else unk (fused with a preceding unk if
  // fuse_unk), else nothing. As in Hugging Face, byte-fallback symbols go in before a pending unk.
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](int32_t id) { symbols.push_back({id, -1, -1, false}); };
  int32_t pending_unk = -1;  // an unk not yet added (it may still fuse with the next one)
  std::string piece;
  for (size_t pos = 0; pos < word.size();) {
    const int length = std::max(1, Utf8CharLength(word, pos));
    const bool is_first = pos == 0, is_last = pos + length >= word.size();
    std::string_view character = word.substr(pos, length);
    pos += length;
    std::string_view lookup = character;
    if ((!is_first && !continuing_subword_prefix_.empty()) || (is_last && !end_of_word_suffix_.empty())) {
      piece.clear();
      if (!is_first) piece += continuing_subword_prefix_;
      piece += character;
      if (is_last) piece += end_of_word_suffix_;
      lookup = piece;
    }
    if (const auto it = vocab_.find(lookup); it != vocab_.end()) {
      if (pending_unk >= 0) add(pending_unk);
      pending_unk = -1;
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes_known = true;
      for (const char b : lookup) all_bytes_known &= byte_token_ids_[static_cast<unsigned char>(b)] >= 0;
      if (all_bytes_known) {
        for (const char b : lookup) add(byte_token_ids_[static_cast<unsigned char>(b)]);
        continue;
      }
    }
    if (!unk_token_) continue;
    const auto unk_it = vocab_.find(*unk_token_);
    if (unk_it == vocab_.end()) {
      return Status::InvalidArgument("tokenizer: unk_token \"" + *unk_token_ + "\" is not in the vocabulary");
    }
    if (pending_unk >= 0 && !fuse_unk_) add(pending_unk);
    pending_unk = unk_it->second;
  }
  if (pending_unk >= 0) add(pending_unk);

  // 2. Merge the lowest-ranked adjacent pair (leftmost on ties) until none applies, as Hugging Face's Word does.
  const auto count = static_cast<int32_t>(symbols.size());
  for (int32_t i = 0; i < count; ++i) {
    symbols[i].previous = i - 1;
    symbols[i].next = i + 1 < count ? i + 1 : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  for (int32_t i = 0; i + 1 < count; ++i) {
    if (const Merge* m = FindMerge(symbols[i].id, symbols[i + 1].id)) queue.push({m->rank, i, m->merged_id});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.position];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const Merge* current = FindMerge(left.id, right.id);
    if (current == nullptr || current->merged_id != top.merged_id) continue;  // a stale candidate
    left.id = top.merged_id;
    right.removed = true;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].previous = top.position;
    if (left.previous >= 0) {
      if (const Merge* m = FindMerge(symbols[left.previous].id, left.id)) {
        queue.push({m->rank, left.previous, m->merged_id});
      }
    }
    if (left.next >= 0) {
      if (const Merge* m = FindMerge(left.id, symbols[left.next].id)) queue.push({m->rank, top.position, m->merged_id});
    }
  }
  for (const Symbol& s : symbols) {
    if (!s.removed) ids->push_back(s.id);
  }
  return Status::Ok();
}

}  // namespace fp4lab::tokenizer
