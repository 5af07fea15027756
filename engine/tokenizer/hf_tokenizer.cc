#include "engine/tokenizer/hf_tokenizer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "engine/file_util.h"
#include "engine/tokenizer/unicode_text.h"

namespace fp4lab::tokenizer {

namespace {

// The component at object[key], or null when the key is missing or null.
const nlohmann::json* OptionalComponent(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

Result<std::unique_ptr<HfTokenizer>> HfTokenizer::Open(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return Parse(text, path);
}

Result<std::unique_ptr<HfTokenizer>> HfTokenizer::Parse(std::string_view json_text, const std::string& file) {
  // Bounded: the component parsers recurse into Sequence nodes, so unbounded nesting would overflow the stack.
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json root, ParseJsonBounded(json_text, file));
  const JsonFields fields(file);
  if (!root.is_object()) return fields.TypeError("(top level)", "an object", root);
  auto tokenizer = std::unique_ptr<HfTokenizer>(new HfTokenizer());

  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json* model, fields.Required(root, "", "model", "a model object"));
  if (!model->is_object()) return fields.TypeError("model", "a model object", *model);
  // Files written before tokenizers 0.9 have no "type"; such a file with merges is a BPE model.
  const std::string type = model->contains("type") && (*model)["type"].is_string()
                               ? (*model)["type"].get<std::string>()
                               : (model->contains("merges") ? "BPE" : "");
  if (type != "BPE") {
    return fields.Error("model.type", "unsupported model \"" + type + "\" (fp4lab reads BPE models)");
  }
  FP4LAB_ASSIGN_OR_RETURN(tokenizer->model_, BpeModel::Parse(*model, "model", fields));

  if (const nlohmann::json* node = OptionalComponent(root, "normalizer")) {
    FP4LAB_ASSIGN_OR_RETURN(tokenizer->normalizer_, ParseNormalizer(*node, "normalizer", fields));
  }
  if (const nlohmann::json* node = OptionalComponent(root, "pre_tokenizer")) {
    FP4LAB_ASSIGN_OR_RETURN(tokenizer->pre_tokenizer_, ParsePreTokenizer(*node, "pre_tokenizer", fields));
  }
  if (const nlohmann::json* node = OptionalComponent(root, "post_processor")) {
    FP4LAB_ASSIGN_OR_RETURN(tokenizer->post_processor_, ParsePostProcessor(*node, "post_processor", fields));
  }
  if (const nlohmann::json* node = OptionalComponent(root, "decoder")) {
    FP4LAB_ASSIGN_OR_RETURN(tokenizer->decoder_, ParseDecoder(*node, "decoder", fields));
  }
  const nlohmann::json* added = OptionalComponent(root, "added_tokens");
  FP4LAB_ASSIGN_OR_RETURN(tokenizer->added_,
                          AddedVocabulary::Parse(added ? *added : nlohmann::json::array(), "added_tokens", fields,
                                                 tokenizer->normalizer_.get()));
  tokenizer->id_limit_ = tokenizer->model_->id_limit();
  for (const AddedToken& token : tokenizer->added_.tokens()) {
    tokenizer->id_limit_ = std::max(tokenizer->id_limit_, token.id + 1);
  }
  return tokenizer;
}

Result<std::vector<int32_t>> HfTokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return Status::InvalidArgument("tokenizer: the text is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  std::vector<int32_t> ids;
  std::vector<AddedTokenSplit> splits;
  added_.Split(text, /*normalized=*/false, &splits);
  for (const AddedTokenSplit& split : splits) {
    if (split.token_id >= 0) {
      ids.push_back(split.token_id);
    } else {
      FP4LAB_RETURN_IF_ERROR(
          EncodeSegment(std::string(text.substr(split.begin, split.end - split.begin)), split.begin == 0, &ids));
    }
  }
  if (add_special_tokens && post_processor_) post_processor_->AddSpecialTokens(&ids);
  return ids;
}

Status HfTokenizer::EncodeSegment(std::string text, bool starts_input, std::vector<int32_t>* ids) const {
  if (normalizer_) FP4LAB_RETURN_IF_ERROR(normalizer_->Normalize(&text));
  std::vector<AddedTokenSplit> splits;
  added_.Split(text, /*normalized=*/true, &splits);
  std::vector<PreToken> words;
  for (const AddedTokenSplit& split : splits) {
    if (split.token_id >= 0) {
      ids->push_back(split.token_id);
      continue;
    }
    words.clear();
    words.push_back({text.substr(split.begin, split.end - split.begin), starts_input && split.begin == 0});
    if (pre_tokenizer_) FP4LAB_RETURN_IF_ERROR(pre_tokenizer_->PreTokenize(&words));
    for (const PreToken& word : words) FP4LAB_RETURN_IF_ERROR(model_->Tokenize(word.text, ids));
  }
  return Status::Ok();
}

Result<std::string> HfTokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (const AddedToken* added = added_.FindById(id)) {
      if (!(skip_special_tokens && added->special)) tokens.push_back(added->content);
    } else if (const std::string* token = model_->IdToToken(id)) {
      tokens.push_back(*token);
    }
  }
  if (!decoder_) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  FP4LAB_RETURN_IF_ERROR(decoder_->DecodeChain(&tokens));
  std::string text;
  for (const std::string& token : tokens) text += token;
  return text;
}

std::optional<int32_t> HfTokenizer::TokenToId(std::string_view token) const {
  if (const AddedToken* added = added_.FindByContent(token)) return added->id;
  return model_->TokenToId(token);
}

const std::string* HfTokenizer::IdToToken(int32_t id) const {
  if (const AddedToken* added = added_.FindById(id)) return &added->content;
  return model_->IdToToken(id);
}

}  // namespace fp4lab::tokenizer
