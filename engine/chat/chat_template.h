// A checkpoint's chat template, found and rendered the way transformers' apply_chat_template does it.
//
// Where the template comes from (first found wins, as in transformers):
//   1. <dir>/chat_template.jinja (raw Jinja text);
//   2. <dir>/tokenizer_config.json, field "chat_template": a string, or a list of {"name", "template"} of which the
//      one named "default" is used;
//   3. <dir>/chat_template.json, field "chat_template" (a processor's file).
// The template is rendered with the special tokens of tokenizer_config.json (bos_token, eos_token, unk_token,
// pad_token, ...; a string or an {"content": ...} object; null = not set, so undefined in the template; missing
// ones are taken from special_tokens_map.json), messages, tools=None, documents=None, add_generation_prompt and
// any extra variables (e.g. Qwen3's enable_thinking).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat/jinja_template.h"
#include "engine/status.h"

namespace fp4lab {

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  // Extra template variables, a JSON object; they override the defaults above of the same name.
  nlohmann::ordered_json extra_variables = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // NotFound if the directory has none of the three sources; InvalidArgument naming the file and field if one is
  // malformed or does not parse as Jinja.
  static Result<ChatTemplate> FromModelDir(const std::string& model_dir);
  // A template file given by the user (.json: {"chat_template": ...}; anything else: raw Jinja), rendered with
  // the special tokens of `model_dir` (which may have none).
  static Result<ChatTemplate> FromFile(const std::string& path, const std::string& model_dir);
  // `special_tokens`: a JSON object of the variables above (e.g. {"bos_token": "<s>"}).
  static Result<ChatTemplate> FromSource(const std::string& source, const std::string& origin,
                                         nlohmann::ordered_json special_tokens);

  // `messages`: a JSON array of objects, each with a string "role" and a "content" (a string, a list of parts or
  // null). InvalidArgument naming the message and field if not; template errors name the origin and line:column.
  Result<std::string> Render(const nlohmann::ordered_json& messages, const ChatRenderOptions& options) const;

  const std::string& source() const { return source_; }
  // Where the template came from, e.g. "model/tokenizer_config.json: chat_template".
  const std::string& origin() const { return origin_; }
  // The special-token variables it is rendered with (see ReadSpecialTokens).
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

 private:
  std::string source_;
  std::string origin_;
  nlohmann::ordered_json special_tokens_;
  jinja::Template template_;
};

// The special-token variables of a checkpoint directory (see above); an empty object if it has no tokenizer config.
Result<nlohmann::ordered_json> ReadSpecialTokens(const std::string& model_dir);

}  // namespace fp4lab
