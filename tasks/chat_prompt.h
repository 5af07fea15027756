// lm-evaluation-harness's chat-template switches for the tasks that build prompts (mmlu, humaneval):
// --apply_chat_template, --fewshot_as_multiturn and --system_instruction, as lm_eval/api/task.py fewshot_context
// and lm_eval/api/utils.py (Message, maybe_delimit, multiturn_to_singleturn) implement them (commit 4e7e0d4):
//  - a prompt is a list of turns: [system: maybe_delimit(system_prompt, description, "\n\n")] then per shot
//    user(question, delimiter = target delimiter " ") + assistant(answer, delimiter "\n\n"), then user(item, "");
//  - without a chat template the context is the concatenation of content + delimiter of every turn;
//  - with one, the turns become messages (each turn its own message with fewshot_as_multiturn; otherwise the
//    non-system turns collapse into one user message, their plain-text concatenation) rendered with
//    add_generation_prompt=true (these tasks have no gen_prefix), and the target delimiter becomes "".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat/chat_template.h"
#include "engine/status.h"

namespace fp4lab {

struct PromptTurn {  // lm-eval's Message
  std::string role;       // "system" | "user" | "assistant"
  std::string content;
  std::string delimiter;  // appended after content in plain text
};

struct ChatPromptOptions {
  std::shared_ptr<const ChatTemplate> chat_template;  // null: plain text, as lm-eval without --apply_chat_template
  bool fewshot_as_multiturn = false;
  std::string system_prompt;  // lm-eval's --system_instruction; empty = none

  // Resolves the CLI choice: "none"; "auto" = the checkpoint's template if `model_dir` has one, else none; or a
  // template file (chat_template.h FromFile) rendered with model_dir's special tokens. `fewshot_as_multiturn`:
  // -1 = lm-eval's default (true with a template), 0 or 1 as given; 1 without a template is an error.
  static Result<ChatPromptOptions> Resolve(const std::string& choice, const std::string& model_dir,
                                           int fewshot_as_multiturn, std::string system_prompt);

  // Task-option keys: "chat_template" ("none", or {"origin", "sha256" of the source, "source", "special_tokens"}),
  // "fewshot_as_multiturn", "system_prompt". FromJson reads them back (missing keys: the defaults above) and
  // rebuilds the template from the stored source, so a stored run can be rebuilt without the checkpoint.
  nlohmann::json ToJson() const;
  static Result<ChatPromptOptions> FromJson(const nlohmann::json& task_options, const std::string& task);

  // lm-eval's target delimiter between context and answer: "" with a chat template (no gen_prefix), else `plain`.
  std::string TargetDelimiter(std::string_view plain) const;
};

// lm-eval's maybe_delimit: prefix + delimiter + suffix unless one side is empty or whitespace meets at the join.
std::string MaybeDelimit(std::string_view prefix, std::string_view suffix, std::string_view delimiter);

// The context for `turns` (see above). Template errors name the template and position.
Result<std::string> RenderTurns(std::vector<PromptTurn> turns, const ChatPromptOptions& options);

// Whether the model's BOS id goes before the encoded context: always for plain text (fp4lab's convention, see
// tasks/mmlu_task.h), and with a chat template only when the rendered context does not already start with the
// template's bos_token text (lm-eval's tok_encode: has_bos_prefix -> add_special_tokens=False).
bool PrependBos(std::string_view context, const ChatPromptOptions& options);

}  // namespace fp4lab
