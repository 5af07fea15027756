#include "tasks/mmlu_prompt.h"

#include <cstdint>

#include "tasks/mmlu_categories.h"

namespace fp4lab {
namespace {

constexpr std::array<std::string_view, 4> kLetters = {"A", "B", "C", "D"};

bool IsPythonSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Decodes the character starting at text[i] (valid UTF-8); returns its length in bytes.
size_t DecodeAt(std::string_view text, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(text[i + k]); };
  if (b(0) < 0x80) {
    cp = b(0);
    return 1;
  }
  if (b(0) < 0xE0) {
    cp = ((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    return 2;
  }
  if (b(0) < 0xF0) {
    cp = ((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    return 3;
  }
  cp = ((b(0) & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
  return 4;
}

// Start of the character that ends at text[end - 1].
size_t PreviousCharStart(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

}  // namespace

std::string_view PythonStrip(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    uint32_t cp = 0;
    const size_t length = DecodeAt(text, begin, cp);
    if (!IsPythonSpace(cp)) break;
    begin += length;
  }
  size_t end = text.size();
  while (end > begin) {
    const size_t start = PreviousCharStart(text, end);
    uint32_t cp = 0;
    DecodeAt(text, start, cp);
    if (!IsPythonSpace(cp)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

std::string MmluDescription(std::string_view subject) {
  return "The following are multiple choice questions (with answers) about " + MmluSubjectWords(subject) + ".\n\n";
}

std::string MmluQuestionText(const MmluQuestion& question) {
  std::string text(PythonStrip(question.question));
  for (int i = 0; i < 4; ++i) {
    text += "\n";
    text += kLetters[i];
    text += ". ";
    text += question.choices[i];
  }
  text += "\nAnswer:";
  return text;
}

Result<MmluPrompt> BuildMmluPrompt(std::string_view subject, std::span<const MmluQuestion> dev, int num_fewshot,
                                   const MmluQuestion& item, const ChatPromptOptions& chat) {
  if (num_fewshot < 0 || static_cast<size_t>(num_fewshot) > dev.size()) {
    return Status::InvalidArgument("MMLU subject '" + std::string(subject) + "': num_fewshot " +
                                   std::to_string(num_fewshot) + " must be between 0 and the " +
                                   std::to_string(dev.size()) + " dev rows available");
  }
  for (int i = 0; i <= num_fewshot; ++i) {
    const MmluQuestion& q = i < num_fewshot ? dev[i] : item;
    if (q.answer < 0 || q.answer > 3) {
      return Status::InvalidArgument("MMLU subject '" + std::string(subject) + "' line " + std::to_string(q.line) +
                                     ": answer index " + std::to_string(q.answer) + " outside 0..3");
    }
  }
  // lm-eval's fewshot_context: [system], (user question " ", assistant letter "\n\n") per shot, user item.
  std::vector<PromptTurn> turns;
  const std::string system = MaybeDelimit(chat.system_prompt, MmluDescription(subject), "\n\n");
  if (!system.empty()) turns.push_back({"system", system, ""});
  for (int i = 0; i < num_fewshot; ++i) {
    turns.push_back({"user", MmluQuestionText(dev[i]), " "});
    turns.push_back({"assistant", std::string(kLetters[dev[i].answer]), "\n\n"});
  }
  turns.push_back({"user", MmluQuestionText(item), ""});
  MmluPrompt prompt;
  FP4LAB_ASSIGN_OR_RETURN(prompt.context, RenderTurns(std::move(turns), chat));
  for (int i = 0; i < 4; ++i) prompt.continuations[i] = chat.TargetDelimiter(" ").append(kLetters[i]);
  prompt.gold = item.answer;
  return prompt;
}

Result<int> LeadingTokensToDrop(int context_tokens, int continuation_tokens, int max_length) {
  if (context_tokens < 1 || continuation_tokens < 1 || max_length < 1 || continuation_tokens > max_length) {
    return Status::InvalidArgument("cannot fit a continuation of " + std::to_string(continuation_tokens) +
                                   " tokens after a context of " + std::to_string(context_tokens) +
                                   " tokens into a model context of " + std::to_string(max_length) +
                                   " tokens (need context >= 1 and 1 <= continuation <= max length)");
  }
  const int64_t overflow = int64_t{context_tokens} + continuation_tokens - 1 - max_length;
  return overflow > 0 ? static_cast<int>(overflow) : 0;
}

}  // namespace fp4lab
