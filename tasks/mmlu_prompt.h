// The lm-evaluation-harness MMLU prompt (lm_eval/tasks/mmlu/default/_default_template_yaml), byte for byte:
//   description  "The following are multiple choice questions (with answers) about <subject words>.\n\n"
//   doc_to_text  "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"
//   shot         doc_to_text + " " + gold letter        (target delimiter " ")
//   context      description + shot_1 + "\n\n" + ... + shot_k + "\n\n" + doc_to_text(item)   (fewshot delimiter "\n\n")
//   continuations " A", " B", " C", " D"
// Shots are the first k rows of the subject's dev split (lm-eval's first_n sampler).
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "datasets/mmlu_csv.h"
#include "engine/status.h"
#include "tasks/chat_prompt.h"

namespace fp4lab {

struct MmluPrompt {
  std::string context;                       // everything before the answer letter (plain text: ends with "Answer:")
  std::array<std::string, 4> continuations;  // " A", " B", " C", " D" ("A".."D" with a chat template)
  int gold = 0;                              // index of the correct continuation (0..3)
};

// Python's str.strip(): removes leading and trailing characters for which str.isspace() is true (ASCII
// whitespace, U+001C..U+001F, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
// REQUIRES: `text` is valid UTF-8.
std::string_view PythonStrip(std::string_view text);

// "The following are multiple choice questions (with answers) about <words>.\n\n".
std::string MmluDescription(std::string_view subject);

// doc_to_text of one question (no trailing space after "Answer:").
std::string MmluQuestionText(const MmluQuestion& question);

// Builds the k-shot prompt for `item` from the first `num_fewshot` rows of `dev`. With the default `chat` options
// it is the plain-text prompt above; a system prompt goes before the description (lm-eval's maybe_delimit with
// "\n\n"), and with a chat template the turns are rendered as tasks/chat_prompt.h describes and the continuations
// lose their leading space ("A".."D").
// InvalidArgument if num_fewshot < 0 or num_fewshot > dev.size() (naming both numbers); chat template errors.
Result<MmluPrompt> BuildMmluPrompt(std::string_view subject, std::span<const MmluQuestion> dev, int num_fewshot,
                                   const MmluQuestion& item, const ChatPromptOptions& chat = ChatPromptOptions());

// Left truncation when context + continuation exceed the model's context. As in lm-eval's
// _loglikelihood_tokens, the model reads (context + continuation)[:-1] and the input keeps the last
// `max_length` of those tokens, so the number of leading context tokens to drop is
//   max(0, context_tokens + continuation_tokens - 1 - max_length).
// InvalidArgument unless context_tokens >= 1, continuation_tokens >= 1, max_length >= 1, and
// continuation_tokens <= max_length (at least one context token must remain to predict the first
// continuation token).
Result<int> LeadingTokensToDrop(int context_tokens, int continuation_tokens, int max_length);

}  // namespace fp4lab
