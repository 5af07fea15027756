#include "engine/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include <sentencepiece_processor.h>

#include "engine/file_util.h"
#include "engine/tokenizer/hf_tokenizer.h"

namespace fp4lab {

Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Open(const std::string& model_dir, int bos_id, int eos_id) {
  const std::filesystem::path dir(model_dir);
  const std::string json_path = (dir / "tokenizer.json").string();
  const std::string model_path = (dir / "tokenizer.model").string();
  auto tok = std::unique_ptr<Tokenizer>(new Tokenizer());
  // A tokenizer.json that is present but unreadable (a loop, a FIFO) is an error, never a fallback to tokenizer.model.
  if (HasDirectoryEntry(json_path)) {
    FP4LAB_ASSIGN_OR_RETURN(tok->hf_, tokenizer::HfTokenizer::Open(json_path));
    tok->source_file_ = "tokenizer.json";
  } else if (HasDirectoryEntry(model_path)) {
    FP4LAB_ASSIGN_OR_RETURN(const std::string proto, ReadFile(model_path));  // refuses directories and FIFOs
    tok->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = tok->sp_->LoadFromSerializedProto(proto);
    if (!status.ok()) {
      return Status::InvalidArgument(model_path + ": not a sentencepiece model: " + status.ToString());
    }
    tok->source_file_ = "tokenizer.model";
  } else {
    return Status::NotFound(json_path + " and " + model_path + ": tokenizer missing (fp4lab reads a Hugging Face " +
                            "tokenizer.json, else a sentencepiece tokenizer.model, beside config.json)");
  }
  FP4LAB_ASSIGN_OR_RETURN(tok->config_, ReadTokenizerConfig(model_dir));
  if (tok->sp_) {
    tok->bos_id_ = bos_id >= 0 ? bos_id : tok->sp_->bos_id();
    tok->eos_id_ = eos_id >= 0 ? eos_id : tok->sp_->eos_id();
  } else {
    tok->bos_id_ = bos_id >= 0 ? bos_id : tok->SpecialTokenId(tok->config_.bos_token);
    tok->eos_id_ = eos_id >= 0 ? eos_id : tok->SpecialTokenId(tok->config_.eos_token);
  }
  FP4LAB_ASSIGN_OR_RETURN(std::vector<int32_t> candidates, ReadConfigEosIds(model_dir));
  candidates.insert(candidates.begin(), tok->eos_id_);
  candidates.push_back(tok->SpecialTokenId(tok->config_.eos_token));
  for (const int32_t id : candidates) {
    if (id >= 0 && std::find(tok->eos_ids_.begin(), tok->eos_ids_.end(), id) == tok->eos_ids_.end()) {
      tok->eos_ids_.push_back(id);
    }
  }
  return tok;
}

int32_t Tokenizer::SpecialTokenId(const std::string& token) const {
  if (token.empty()) return -1;
  if (hf_) return hf_->TokenToId(token).value_or(-1);
  const int id = sp_->PieceToId(token);
  return id == sp_->unk_id() && token != sp_->IdToPiece(id) ? -1 : id;
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  if (hf_) return hf_->Encode(text, /*add_special_tokens=*/false);
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) return Status::InvalidArgument("tokenizer: cannot encode text: " + status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

Result<std::vector<int32_t>> Tokenizer::EncodeWithSpecialTokens(std::string_view text) const {
  if (hf_) return hf_->Encode(text, /*add_special_tokens=*/true);
  FP4LAB_ASSIGN_OR_RETURN(std::vector<int32_t> ids, Encode(text));
  ids.insert(ids.begin(), bos_id_);
  return ids;
}

Result<std::string> Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  if (hf_) return hf_->Decode(ids, skip_special_tokens);
  std::vector<int> v(ids.begin(), ids.end());
  std::string out;
  sp_->Decode(v, &out).IgnoreError();
  return out;
}

std::string Tokenizer::IdToPiece(int32_t id) const {
  if (hf_) {
    const std::string* token = hf_->IdToToken(id);
    return token ? *token : std::string();
  }
  return id >= 0 && id < sp_->GetPieceSize() ? sp_->IdToPiece(id) : std::string();
}

int Tokenizer::vocab_size() const { return hf_ ? hf_->id_limit() : sp_->GetPieceSize(); }

}  // namespace fp4lab
