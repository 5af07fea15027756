// Tokenizer: a checkpoint's tokenizer, picked as transformers picks it: the Hugging Face tokenizer.json when the
// directory has one, else the sentencepiece tokenizer.model; plus the special ids and tokenizer_config.json facts.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "engine/tokenizer/tokenizer_config.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace fp4lab {

namespace tokenizer {
class HfTokenizer;
}

class Tokenizer {
 public:
  // Loads <model_dir>/tokenizer.json, or <model_dir>/tokenizer.model when there is no tokenizer.json. NotFound
  // naming both paths if neither exists; InvalidArgument naming the file and field if one does not parse.
  // bos_id/eos_id come from the model config; -1 takes the tokenizer's own (tokenizer_config.json's bos_token /
  // eos_token, or sentencepiece's ids).
  static Result<std::unique_ptr<Tokenizer>> Open(const std::string& model_dir, int bos_id, int eos_id);
  ~Tokenizer();

  // Never adds BOS or EOS. With tokenizer.json, added and special tokens written in the text are matched (as
  // Hugging Face's encode(text, add_special_tokens=False) does). InvalidArgument if the text is not valid UTF-8.
  Result<std::vector<int32_t>> Encode(std::string_view text) const;
  // encode(text) with the tokenizer's default special tokens: tokenizer.json's post-processor (e.g. BOS), or BOS
  // before the ids for sentencepiece.
  Result<std::vector<int32_t>> EncodeWithSpecialTokens(std::string_view text) const;
  // decode(ids, skip_special_tokens); sentencepiece always leaves out control tokens such as BOS and EOS. Fails only
  // if a tokenizer.json decoder's regex gives up (ResourceExhausted).
  Result<std::string> Decode(std::span<const int32_t> ids, bool skip_special_tokens) const;
  // The vocabulary string of one id ("Ġworld", "▁Hello", "<0x0A>"); empty for an unknown id.
  std::string IdToPiece(int32_t id) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  // Every id that ends generation, without repeats: eos_id(), then config.json's and generation_config.json's
  // eos_token_id (an int or a list), then tokenizer_config.json's eos_token.
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  // One more than the largest token id.
  int vocab_size() const;
  const TokenizerConfig& config() const { return config_; }
  // "tokenizer.json" or "tokenizer.model": the file the tokenizer was read from.
  const std::string& source_file() const { return source_file_; }

 private:
  Tokenizer() = default;
  // The id of a special token string, or -1.
  int32_t SpecialTokenId(const std::string& token) const;

  std::unique_ptr<tokenizer::HfTokenizer> hf_;                      // set for tokenizer.json
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;       // set for tokenizer.model
  TokenizerConfig config_;
  std::string source_file_;
  int32_t bos_id_ = 1;
  int32_t eos_id_ = 2;
  std::vector<int32_t> eos_ids_;
};

}  // namespace fp4lab
