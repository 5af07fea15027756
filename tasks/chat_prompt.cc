#include "tasks/chat_prompt.h"

#include "datasets/sha256.h"
#include "engine/chat/jinja_text.h"

namespace fp4lab {

namespace {

// Python's str.isspace() of the last (at_end) or first character of non-empty UTF-8 text.
bool IsSpaceAt(std::string_view text, bool at_end) {
  const std::u32string characters = jinja::DecodeUtf8(text);
  return jinja::IsPythonSpace(at_end ? characters.back() : characters.front());
}

}  // namespace

std::string MaybeDelimit(std::string_view prefix, std::string_view suffix, std::string_view delimiter) {
  if (prefix.empty()) return std::string(suffix);
  if (suffix.empty()) return std::string(prefix);
  std::string out(prefix);
  if (!IsSpaceAt(prefix, true) && !IsSpaceAt(suffix, false)) out += delimiter;
  out += suffix;
  return out;
}

Result<ChatPromptOptions> ChatPromptOptions::Resolve(const std::string& choice, const std::string& model_dir,
                                                     int fewshot_as_multiturn, std::string system_prompt) {
  ChatPromptOptions options;
  options.system_prompt = std::move(system_prompt);
  if (choice == "auto") {
    auto found = ChatTemplate::FromModelDir(model_dir);
    if (found.ok()) {
      options.chat_template = std::make_shared<const ChatTemplate>(std::move(*found));
    } else if (found.status().code() != StatusCode::kNotFound) {
      return found.status();
    }
  } else if (choice != "none") {
    FP4LAB_ASSIGN_OR_RETURN(ChatTemplate file, ChatTemplate::FromFile(choice, model_dir));
    options.chat_template = std::make_shared<const ChatTemplate>(std::move(file));
  }
  if (fewshot_as_multiturn == 1 && options.chat_template == nullptr) {
    return Status::InvalidArgument("--fewshot-as-multiturn needs a chat template (--chat-template " + choice +
                                   " gave none)");
  }
  options.fewshot_as_multiturn = fewshot_as_multiturn < 0 ? options.chat_template != nullptr : fewshot_as_multiturn;
  return options;
}

nlohmann::json ChatPromptOptions::ToJson() const {
  nlohmann::json out = {{"fewshot_as_multiturn", fewshot_as_multiturn}, {"system_prompt", system_prompt}};
  if (chat_template == nullptr) {
    out["chat_template"] = "none";
  } else {
    out["chat_template"] = {{"origin", chat_template->origin()},
                            {"sha256", Sha256Hex(chat_template->source())},
                            {"source", chat_template->source()},
                            {"special_tokens", nlohmann::json::parse(chat_template->special_tokens().dump())}};
  }
  return out;
}

Result<ChatPromptOptions> ChatPromptOptions::FromJson(const nlohmann::json& o, const std::string& task) {
  ChatPromptOptions options;
  const std::string where = "task '" + task + "': option ";
  if (o.contains("fewshot_as_multiturn")) {
    if (!o["fewshot_as_multiturn"].is_boolean()) {
      return Status::InvalidArgument(where + "fewshot_as_multiturn: expected a boolean");
    }
    options.fewshot_as_multiturn = o["fewshot_as_multiturn"].get<bool>();
  }
  if (o.contains("system_prompt")) {
    if (!o["system_prompt"].is_string()) return Status::InvalidArgument(where + "system_prompt: expected a string");
    options.system_prompt = o["system_prompt"].get<std::string>();
  }
  if (!o.contains("chat_template") || o["chat_template"] == "none") {
    if (options.fewshot_as_multiturn) {
      return Status::InvalidArgument(where + "fewshot_as_multiturn needs a chat_template");
    }
    return options;
  }
  const nlohmann::json& t = o["chat_template"];
  if (!t.is_object() || !t.contains("source") || !t["source"].is_string() || !t.contains("origin") ||
      !t["origin"].is_string() || !t.contains("sha256") || !t.contains("special_tokens") ||
      !t["special_tokens"].is_object()) {
    return Status::InvalidArgument(where +
                                   "chat_template: expected \"none\" or {origin, sha256, source, special_tokens}");
  }
  const std::string source = t["source"].get<std::string>();
  if (t["sha256"] != Sha256Hex(source)) {
    return Status::InvalidArgument(where + "chat_template: sha256 does not match its source");
  }
  FP4LAB_ASSIGN_OR_RETURN(ChatTemplate chat,
                          ChatTemplate::FromSource(source, t["origin"].get<std::string>(),
                                                   nlohmann::ordered_json::parse(t["special_tokens"].dump())));
  options.chat_template = std::make_shared<const ChatTemplate>(std::move(chat));
  return options;
}

std::string ChatPromptOptions::TargetDelimiter(std::string_view plain) const {
  return chat_template != nullptr ? std::string() : std::string(plain);
}

Result<std::string> RenderTurns(std::vector<PromptTurn> turns, const ChatPromptOptions& options) {
  if (options.chat_template == nullptr) {
    std::string text;
    for (const PromptTurn& turn : turns) text += turn.content + turn.delimiter;
    return text;
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  auto message = [](const std::string& role, const std::string& content) {
    return nlohmann::ordered_json{{"role", role}, {"content", content}};
  };
  if (options.fewshot_as_multiturn) {
    for (const PromptTurn& turn : turns) messages.push_back(message(turn.role, turn.content));
  } else if (!turns.empty()) {
    // multiturn_to_singleturn: the system turn stays, the rest collapse into one user message (a final assistant
    // turn would stay separate; these tasks end with the user's item).
    size_t first = 0;
    if (turns[0].role == "system") {
      messages.push_back(message("system", turns[0].content));
      first = 1;
    }
    if (first < turns.size()) {
      turns.back().delimiter.clear();
      std::string user;
      for (size_t i = first; i < turns.size(); ++i) user += turns[i].content + turns[i].delimiter;
      messages.push_back(message("user", user));
    }
  }
  ChatRenderOptions render;
  render.add_generation_prompt = true;
  return options.chat_template->Render(messages, render);
}

bool PrependBos(std::string_view context, const ChatPromptOptions& options) {
  if (options.chat_template == nullptr) return true;
  const auto& tokens = options.chat_template->special_tokens();
  if (!tokens.contains("bos_token")) return true;
  const std::string bos = tokens["bos_token"].get<std::string>();
  return bos.empty() || context.substr(0, bos.size()) != bos;
}

}  // namespace fp4lab
