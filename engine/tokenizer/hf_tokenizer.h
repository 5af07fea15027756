// A Hugging Face tokenizer.json, read and run exactly as the HF tokenizers library (0.22) does for BPE models:
// added tokens are split off the raw text, the rest is normalized (and searched for normalized added tokens),
// pre-tokenized into words, and each word is tokenized by the BPE model; the post-processor adds special tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/decoder.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/post_processor.h"
#include "engine/tokenizer/pre_tokenizer.h"

namespace fp4lab::tokenizer {

class HfTokenizer {
 public:
  // Reads tokenizer.json at `path`. NotFound if missing; InvalidArgument naming the file and the JSON field for a
  // truncated file, an unsupported component type, a merge naming a missing token, a regex that does not compile.
  static Result<std::unique_ptr<HfTokenizer>> Open(const std::string& path);
  // The same from the file's text; `file` names it in errors.
  static Result<std::unique_ptr<HfTokenizer>> Parse(std::string_view json_text, const std::string& file);

  // encode(text, add_special_tokens): added tokens written in the text are always matched; the post-processor
  // (e.g. BOS) runs only with `add_special_tokens`. InvalidArgument if `text` is not valid UTF-8.
  Result<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens) const;
  // decode(ids, skip_special_tokens): unknown ids are skipped. Fails only if a decoder's regex gives up.
  Result<std::string> Decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // Added tokens first, then the model's vocabulary.
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // Null for an id in neither.
  const std::string* IdToToken(int32_t id) const;
  // One more than the largest id of the vocabulary and the added tokens.
  int32_t id_limit() const { return id_limit_; }

 private:
  HfTokenizer() = default;
  // Appends the ids of one piece of text that holds no raw added token.
  Status EncodeSegment(std::string text, bool starts_input, std::vector<int32_t>* ids) const;

  std::unique_ptr<Normalizer> normalizer_;        // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer_;   // may be null
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;  // may be null
  std::unique_ptr<Decoder> decoder_;               // may be null
  AddedVocabulary added_;
  int32_t id_limit_ = 0;
};

}  // namespace fp4lab::tokenizer
