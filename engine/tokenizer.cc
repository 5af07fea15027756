#include "engine/tokenizer.h"

#include <filesystem>

#include <sentencepiece_processor.h>

#include "engine/file_util.h"

namespace fp4lab {

Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Open(const std::string& model_dir, int bos_id, int eos_id) {
  const std::string path = (std::filesystem::path(model_dir) / "tokenizer.model").string();
  Result<std::string> proto = ReadFile(path);
  if (proto.status().code() == StatusCode::kNotFound) {
    return Status::NotFound(path + ": tokenizer missing (fp4lab needs a sentencepiece tokenizer.model beside "
                            "config.json)");
  }
  if (!proto.ok()) return proto.status();
  auto tok = std::unique_ptr<Tokenizer>(new Tokenizer());
  tok->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = tok->sp_->LoadFromSerializedProto(*proto);
  if (!status.ok()) {
    return Status::InvalidArgument(path + ": not a sentencepiece model: " + status.ToString());
  }
  tok->bos_id_ = bos_id >= 0 ? bos_id : tok->sp_->bos_id();
  tok->eos_id_ = eos_id >= 0 ? eos_id : tok->sp_->eos_id();
  return tok;
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) return Status::InvalidArgument("tokenizer: cannot encode text: " + status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::vector<int> v(ids.begin(), ids.end());
  std::string out;
  sp_->Decode(v, &out).IgnoreError();
  return out;
}

int Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

}  // namespace fp4lab
