#include "engine/chat/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/file_util.h"

namespace fp4lab {

namespace {

namespace fs = std::filesystem;

// The special tokens transformers passes to the template (its SPECIAL_TOKENS_ATTRIBUTES).
constexpr const char* kSpecialTokenKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                             "pad_token", "cls_token", "mask_token"};

Result<nlohmann::ordered_json> ReadOrderedJson(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseOrderedJsonBounded(text, path);
}

// A token given as "text" or as an AddedToken object {"content": "text", ...}; nullopt for null.
Result<std::optional<std::string>> TokenText(const nlohmann::ordered_json& value, const std::string& where) {
  if (value.is_null()) return std::optional<std::string>();
  if (value.is_string()) return std::optional<std::string>(value.get<std::string>());
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return std::optional<std::string>(value["content"].get<std::string>());
  }
  return Status::InvalidArgument(where + ": expected a string, null or an object with a string \"content\"");
}

// Adds the special tokens of one config file that `tokens` does not have yet.
Status AddSpecialTokens(const std::string& path, nlohmann::ordered_json& tokens) {
  if (!HasDirectoryEntry(path)) return Status::Ok();
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::ordered_json config, ReadOrderedJson(path));
  if (!config.is_object()) return Status::InvalidArgument(path + ": expected a JSON object");
  for (const char* key : kSpecialTokenKeys) {
    if (!config.contains(key) || tokens.contains(key)) continue;
    FP4LAB_ASSIGN_OR_RETURN(std::optional<std::string> text, TokenText(config[key], path + ": field " + key));
    if (text) tokens[key] = *text;
  }
  if (config.contains("additional_special_tokens") && !tokens.contains("additional_special_tokens")) {
    const auto& list = config["additional_special_tokens"];
    const std::string where = path + ": field additional_special_tokens";
    if (!list.is_array()) return Status::InvalidArgument(where + ": expected a list");
    nlohmann::ordered_json texts = nlohmann::ordered_json::array();
    for (const auto& item : list) {
      FP4LAB_ASSIGN_OR_RETURN(std::optional<std::string> text, TokenText(item, where));
      if (text) texts.push_back(*text);
    }
    tokens["additional_special_tokens"] = std::move(texts);
  }
  return Status::Ok();
}

// tokenizer_config.json's "chat_template": a string, or a list of named templates of which "default" is used.
Result<std::string> TemplateFromConfigField(const nlohmann::ordered_json& field, const std::string& where) {
  if (field.is_string()) return field.get<std::string>();
  if (!field.is_array()) return Status::InvalidArgument(where + ": expected a string or a list of {name, template}");
  std::string names;
  for (const auto& entry : field) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
        !entry["template"].is_string()) {
      return Status::InvalidArgument(where + ": every entry must be an object with string \"name\" and \"template\"");
    }
    if (entry["name"] == "default") return entry["template"].get<std::string>();
    names += (names.empty() ? "" : ", ") + entry["name"].get<std::string>();
  }
  return Status::InvalidArgument(where + ": no template named \"default\" (has: " + names + ")");
}

Result<std::string> TemplateFromJsonFile(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::ordered_json json, ReadOrderedJson(path));
  if (!json.is_object() || !json.contains("chat_template")) {
    return Status::InvalidArgument(path + ": expected an object with a \"chat_template\" field");
  }
  return TemplateFromConfigField(json["chat_template"], path + ": chat_template");
}

Status CheckMessages(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return Status::InvalidArgument("messages: expected a JSON array of {role, content}");
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Status::InvalidArgument(where + ": expected an object with role and content");
    if (!m.contains("role") || !m["role"].is_string()) {
      return Status::InvalidArgument(where + ": field role: expected a string");
    }
    if (!m.contains("content") || !(m["content"].is_string() || m["content"].is_array() || m["content"].is_null())) {
      return Status::InvalidArgument(where + ": field content: expected a string, a list of parts or null");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<nlohmann::ordered_json> ReadSpecialTokens(const std::string& model_dir) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  FP4LAB_RETURN_IF_ERROR(AddSpecialTokens(model_dir + "/tokenizer_config.json", tokens));
  FP4LAB_RETURN_IF_ERROR(AddSpecialTokens(model_dir + "/special_tokens_map.json", tokens));
  return tokens;
}

Result<ChatTemplate> ChatTemplate::FromSource(const std::string& source, const std::string& origin,
                                              nlohmann::ordered_json special_tokens) {
  ChatTemplate t;
  FP4LAB_ASSIGN_OR_RETURN(t.template_, jinja::Template::Parse(source, origin));
  t.source_ = source;
  t.origin_ = origin;
  t.special_tokens_ = std::move(special_tokens);
  return t;
}

Result<ChatTemplate> ChatTemplate::FromModelDir(const std::string& model_dir) {
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::ordered_json tokens, ReadSpecialTokens(model_dir));
  const std::string jinja_file = model_dir + "/chat_template.jinja";
  if (HasDirectoryEntry(jinja_file)) {
    FP4LAB_ASSIGN_OR_RETURN(std::string source, ReadFile(jinja_file));
    return FromSource(source, jinja_file, std::move(tokens));
  }
  const std::string config_file = model_dir + "/tokenizer_config.json";
  if (HasDirectoryEntry(config_file)) {
    FP4LAB_ASSIGN_OR_RETURN(nlohmann::ordered_json config, ReadOrderedJson(config_file));
    if (config.is_object() && config.contains("chat_template") && !config["chat_template"].is_null()) {
      const std::string where = config_file + ": chat_template";
      FP4LAB_ASSIGN_OR_RETURN(std::string source, TemplateFromConfigField(config["chat_template"], where));
      return FromSource(source, where, std::move(tokens));
    }
  }
  const std::string json_file = model_dir + "/chat_template.json";
  if (HasDirectoryEntry(json_file)) {
    FP4LAB_ASSIGN_OR_RETURN(std::string source, TemplateFromJsonFile(json_file));
    return FromSource(source, json_file + ": chat_template", std::move(tokens));
  }
  return Status::NotFound(model_dir + ": no chat template (no chat_template.jinja, no chat_template field in " +
                          "tokenizer_config.json, no chat_template.json)");
}

Result<ChatTemplate> ChatTemplate::FromFile(const std::string& path, const std::string& model_dir) {
  FP4LAB_ASSIGN_OR_RETURN(nlohmann::ordered_json tokens, ReadSpecialTokens(model_dir));
  if (fs::path(path).extension() == ".json") {
    FP4LAB_ASSIGN_OR_RETURN(std::string source, TemplateFromJsonFile(path));
    return FromSource(source, path + ": chat_template", std::move(tokens));
  }
  FP4LAB_ASSIGN_OR_RETURN(std::string source, ReadFile(path));
  return FromSource(source, path, std::move(tokens));
}

Result<std::string> ChatTemplate::Render(const nlohmann::ordered_json& messages,
                                         const ChatRenderOptions& options) const {
  FP4LAB_RETURN_IF_ERROR(CheckMessages(messages));
  if (!options.extra_variables.is_object()) {
    return Status::InvalidArgument("chat template variables: expected a JSON object");
  }
  // transformers: render(messages=..., tools=None, documents=None, add_generation_prompt=..., **special_tokens,
  // **kwargs).
  nlohmann::ordered_json variables = special_tokens_;
  variables["messages"] = messages;
  variables["tools"] = nullptr;
  variables["documents"] = nullptr;
  variables["add_generation_prompt"] = options.add_generation_prompt;
  for (const auto& [key, value] : options.extra_variables.items()) variables[key] = value;
  return template_.Render(variables);
}

}  // namespace fp4lab
