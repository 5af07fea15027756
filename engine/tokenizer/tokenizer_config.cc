#include "engine/tokenizer/tokenizer_config.h"

#include <filesystem>

#include "engine/file_util.h"

namespace fp4lab {

namespace {

// The JSON file at `path`, or null when there is no such directory entry.
Result<nlohmann::json> ReadOptionalJson(const std::string& path) {
  if (!HasDirectoryEntry(path)) return nlohmann::json();
  return ReadJsonFile(path);
}

// A special token field: a string, an added-token object {"content": ...}, or null / absent (empty).
Result<std::string> SpecialToken(const nlohmann::json& config, const std::string& path, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return Status::InvalidArgument(path + ": field '" + key + "': expected a string or {\"content\": ...}, got " +
                                 it->type_name());
}

Status AppendEosIds(const std::string& path, std::vector<int32_t>* ids) {
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json config, ReadOptionalJson(path));
  if (!config.is_object() || !config.contains("eos_token_id") || config["eos_token_id"].is_null()) {
    return Status::Ok();
  }
  const nlohmann::json& value = config["eos_token_id"];
  const auto bad = [&] {
    return Status::InvalidArgument(path + ": field 'eos_token_id': expected a token id or a list of token ids, got " +
                                   value.dump());
  };
  if (value.is_number_integer()) {
    ids->push_back(value.get<int32_t>());
    return Status::Ok();
  }
  if (!value.is_array()) return bad();
  for (const nlohmann::json& id : value) {
    if (!id.is_number_integer()) return bad();
    ids->push_back(id.get<int32_t>());
  }
  return Status::Ok();
}

}  // namespace

Result<TokenizerConfig> ReadTokenizerConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "tokenizer_config.json").string();
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::json config, ReadOptionalJson(path));
  TokenizerConfig result;
  if (config.is_null()) return result;
  if (!config.is_object()) return Status::InvalidArgument(path + ": expected a JSON object");
  FP4LAB_ASSIGN_OR_RETURN(result.bos_token, SpecialToken(config, path, "bos_token"));
  FP4LAB_ASSIGN_OR_RETURN(result.eos_token, SpecialToken(config, path, "eos_token"));
  if (config.contains("chat_template")) {
    const nlohmann::json& tpl = config["chat_template"];
    if (!tpl.is_null() && !tpl.is_string() && !tpl.is_array()) {
      return Status::InvalidArgument(path + ": field 'chat_template': expected a string or a list of "
                                     "{\"name\", \"template\"}, got " + tpl.type_name());
    }
    result.chat_template = tpl;
  }
  return result;
}

Result<std::vector<int32_t>> ReadConfigEosIds(const std::string& model_dir) {
  std::vector<int32_t> ids;
  const std::filesystem::path dir(model_dir);
  FP4LAB_RETURN_IF_ERROR(AppendEosIds((dir / "config.json").string(), &ids));
  FP4LAB_RETURN_IF_ERROR(AppendEosIds((dir / "generation_config.json").string(), &ids));
  return ids;
}

}  // namespace fp4lab
