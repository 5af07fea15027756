// Tokenizer: a sentencepiece model (tokenizer.model) with BOS/EOS ids from the checkpoint's configs.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace fp4lab {

class Tokenizer {
 public:
  // Loads <model_dir>/tokenizer.model. NotFound naming the path if it is missing, InvalidArgument if it does not
  // parse. bos_id/eos_id come from the model config (sentencepiece's own ids are used when they are -1).
  static Result<std::unique_ptr<Tokenizer>> Open(const std::string& model_dir, int bos_id, int eos_id);
  ~Tokenizer();

  // Never adds BOS or EOS.
  Result<std::vector<int32_t>> Encode(std::string_view text) const;
  std::string Decode(std::span<const int32_t> ids) const;
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int vocab_size() const;

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  int32_t bos_id_ = 1;
  int32_t eos_id_ = 2;
};

}  // namespace fp4lab
