// `fp4lab chat`: renders a conversation with a checkpoint's chat template (engine/chat/chat_template.h), exactly
// as transformers' apply_chat_template would, and prints the prompt and, when the directory has a tokenizer, its
// token ids, so a user can check both by hand against another implementation.
#include <filesystem>
#include <iostream>
#include <memory>

#include "engine/chat/chat_template.h"
#include "engine/file_util.h"
#include "engine/tokenizer.h"
#include "harness/command.h"
#include "harness/paths.h"

namespace fp4lab {

namespace {

struct ChatFlags {
  std::string model = DefaultModelDir();
  std::string messages;
  std::string chat_template;       // empty: the checkpoint's own
  std::vector<std::string> vars;   // NAME=VALUE, VALUE parsed as JSON when it parses, else a string
  bool generation_prompt = false;
  bool json = false;
};

Result<nlohmann::ordered_json> ParseVars(const std::vector<std::string>& vars) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const std::string& var : vars) {
    const size_t eq = var.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--var '" + var + "': expected NAME=VALUE (e.g. enable_thinking=false)");
    }
    const std::string value = var.substr(eq + 1);
    if (!nlohmann::ordered_json::accept(value)) {
      out[var.substr(0, eq)] = value;
      continue;
    }
    FP4LAB_ASSIGN_OR_RETURN(out[var.substr(0, eq)], ParseOrderedJsonBounded(value, "--var '" + var.substr(0, eq) + "'"));
  }
  return out;
}

// The ids of `text` when `model_dir` has a tokenizer; nullopt when it has none.
Result<std::optional<std::vector<int32_t>>> EncodeIfTokenizer(const std::string& model_dir, const std::string& text) {
  auto tokenizer = Tokenizer::Open(model_dir, -1, -1);
  if (!tokenizer.ok()) {
    if (tokenizer.status().code() == StatusCode::kNotFound) return std::optional<std::vector<int32_t>>();
    return tokenizer.status();
  }
  FP4LAB_ASSIGN_OR_RETURN(std::vector<int32_t> ids, (*tokenizer)->Encode(text));
  return std::optional<std::vector<int32_t>>(std::move(ids));
}

Result<int> RunChat(const ChatFlags& f) {
  FP4LAB_ASSIGN_OR_RETURN(std::string messages_text, ReadFile(f.messages));
  FP4LAB_ASSIGN_OR_RETURN(const nlohmann::ordered_json messages, ParseOrderedJsonBounded(messages_text, f.messages));
  ChatRenderOptions options;
  options.add_generation_prompt = f.generation_prompt;
  FP4LAB_ASSIGN_OR_RETURN(options.extra_variables, ParseVars(f.vars));
  FP4LAB_ASSIGN_OR_RETURN(ChatTemplate chat, f.chat_template.empty()
                                                 ? ChatTemplate::FromModelDir(f.model)
                                                 : ChatTemplate::FromFile(f.chat_template, f.model));
  auto rendered = chat.Render(messages, options);
  if (!rendered.ok()) {
    // Message problems name the messages file; template problems already name the template.
    const bool about_messages = rendered.status().message().rfind("messages", 0) == 0;
    return about_messages ? rendered.status().WithContext(f.messages) : rendered.status();
  }
  FP4LAB_ASSIGN_OR_RETURN(auto ids, EncodeIfTokenizer(f.model, *rendered));
  if (f.json) {
    nlohmann::ordered_json out = {{"template", chat.origin()}, {"rendered", *rendered}};
    out["ids"] = ids ? nlohmann::ordered_json(*ids) : nlohmann::ordered_json(nullptr);
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "template: " << chat.origin() << "\n--- rendered (" << rendered->size() << " bytes) ---\n"
            << *rendered << "\n";
  if (ids) {
    std::cout << "--- " << ids->size() << " token ids ---\n";
    for (size_t i = 0; i < ids->size(); ++i) std::cout << (i ? " " : "") << (*ids)[i];
    std::cout << "\n";
  } else {
    std::cout << "--- no tokenizer in " << f.model << " ---\n";
  }
  return 0;
}

}  // namespace

Command AddChatCommand(CLI::App& root) {
  auto flags = std::make_shared<ChatFlags>();
  CLI::App* app = root.add_subcommand("chat", "Render a conversation with a checkpoint's chat template (and its ids)");
  app->add_option("--model", flags->model, "Checkpoint directory (its chat template and tokenizer)")
      ->capture_default_str();
  app->add_option("--messages", flags->messages, "JSON file: an array of {\"role\", \"content\"}")->required();
  app->add_option("--chat-template", flags->chat_template,
                  "Use this template file instead (.jinja text, or .json with a chat_template field)");
  app->add_flag("--generation-prompt", flags->generation_prompt, "add_generation_prompt=true (open an assistant turn)");
  app->add_option("--var", flags->vars, "Extra template variable NAME=VALUE (JSON value or string), repeatable");
  app->add_flag("--json", flags->json, "Print {template, rendered, ids} as JSON");
  return {app, [flags] { return RunChat(*flags); }};
}

}  // namespace fp4lab
