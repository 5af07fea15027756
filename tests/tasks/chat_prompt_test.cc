// lm-eval's chat-template switches for MMLU (tasks/chat_prompt.h): the expected prompts are written out by hand
// from lm-eval's fewshot_context / build_qa_turn / multiturn_to_singleturn (lm_eval/api/task.py and utils.py at
// commit 4e7e0d4) and the real Qwen3 and Llama 3.1 templates (tests/fixtures/tokenizers).
#include "tasks/chat_prompt.h"

#include <gtest/gtest.h>

#include "tasks/mmlu_prompt.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::SourcePath;

MmluQuestion Question(const std::string& text, int answer) {
  MmluQuestion q;
  q.question = text;
  q.choices = {"one", "two", "three", "four"};
  q.answer = answer;
  return q;
}

const std::string kShot = "Q1?\nA. one\nB. two\nC. three\nD. four\nAnswer:";
const std::string kItem = "Q2?\nA. one\nB. two\nC. three\nD. four\nAnswer:";
const std::string kDescription =
    "The following are multiple choice questions (with answers) about abstract algebra.\n\n";

ChatPromptOptions WithTemplate(const std::string& family, bool multiturn, const std::string& system = "") {
  auto options = ChatPromptOptions::Resolve("auto", FixturePath("tokenizers/" + family), multiturn ? 1 : 0, system);
  EXPECT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_NE(options->chat_template, nullptr);
  return *options;
}

TEST(ChatPromptTest, MaybeDelimitAddsTheDelimiterOnlyBetweenNonBlankEnds) {
  EXPECT_EQ(MaybeDelimit("sys", "desc", "\n\n"), "sys\n\ndesc");
  EXPECT_EQ(MaybeDelimit("sys\n", "desc", "\n\n"), "sys\ndesc");
  EXPECT_EQ(MaybeDelimit("sys", " desc", "\n\n"), "sys desc");
  EXPECT_EQ(MaybeDelimit("sys\u00a0", "desc", "\n\n"), "sys\u00a0desc");  // Python's isspace() includes NBSP
  EXPECT_EQ(MaybeDelimit("", "desc", "\n\n"), "desc");
  EXPECT_EQ(MaybeDelimit("sys", "", "\n\n"), "sys");
}

TEST(ChatPromptTest, PlainTextIsUnchangedAndTakesASystemPromptFirst) {
  const std::vector<MmluQuestion> dev = {Question("Q1?", 0)};
  auto plain = BuildMmluPrompt("abstract_algebra", dev, 1, Question(" Q2? ", 1));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->context, kDescription + kShot + " A\n\n" + kItem);
  EXPECT_EQ(plain->continuations[1], " B");
  ChatPromptOptions system;
  system.system_prompt = "Be exact.";
  auto with_system = BuildMmluPrompt("abstract_algebra", dev, 1, Question("Q2?", 1), system);
  ASSERT_TRUE(with_system.ok());
  EXPECT_EQ(with_system->context, "Be exact.\n\n" + kDescription + kShot + " A\n\n" + kItem);
  EXPECT_TRUE(PrependBos(with_system->context, system));
}

TEST(ChatPromptTest, FewshotAsMultiturnGivesEachShotItsOwnTurns) {
  const std::vector<MmluQuestion> dev = {Question("Q1?", 0)};
  const ChatPromptOptions chat = WithTemplate("qwen3", /*multiturn=*/true);
  auto prompt = BuildMmluPrompt("abstract_algebra", dev, 1, Question("Q2?", 1), chat);
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_EQ(prompt->context, "<|im_start|>system\n" + kDescription + "<|im_end|>\n<|im_start|>user\n" + kShot +
                                 "<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\n" + kItem +
                                 "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(prompt->continuations[0], "A");  // no target delimiter with a chat template
  EXPECT_TRUE(PrependBos(prompt->context, chat));  // Qwen3 has no bos_token
}

TEST(ChatPromptTest, SingleTurnCollapsesShotsAndQuestionIntoOneUserMessage) {
  const std::vector<MmluQuestion> dev = {Question("Q1?", 2)};
  const ChatPromptOptions chat = WithTemplate("llama3.1-8b-instruct", /*multiturn=*/false, "Be exact.");
  auto prompt = BuildMmluPrompt("abstract_algebra", dev, 1, Question("Q2?", 1), chat);
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  // The Llama 3.1 template trims each message's content.
  EXPECT_EQ(prompt->context,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe exact.\n\nThe following are multiple "
            "choice questions (with answers) about abstract algebra.<|eot_id|><|start_header_id|>user<|end_header_id|>"
            "\n\n" + kShot + " C\n\n" + kItem + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_FALSE(PrependBos(prompt->context, chat));  // the rendering already starts with bos_token
}

TEST(ChatPromptTest, ResolveFollowsLmEvalDefaultsAndRefusesMultiturnWithoutATemplate) {
  const std::string stories = SourcePath("datasets/models/stories260K");
  auto none = ChatPromptOptions::Resolve("auto", stories, -1, "");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->chat_template, nullptr);
  EXPECT_FALSE(none->fewshot_as_multiturn);
  EXPECT_EQ(none->ToJson()["chat_template"], "none");
  auto refused = ChatPromptOptions::Resolve("none", stories, 1, "");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  auto file = ChatPromptOptions::Resolve(FixturePath("tokenizers/qwen3/tokenizer_config.json"), stories, -1, "");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE(file->fewshot_as_multiturn);  // lm-eval: on by default with a chat template
  auto missing = ChatPromptOptions::Resolve(FixturePath("no_such_template.jinja"), stories, -1, "");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(ChatPromptTest, StoredOptionsRebuildTheSameTemplate) {
  const ChatPromptOptions chat = WithTemplate("qwen3", true, "sys");
  const nlohmann::json stored = chat.ToJson();
  EXPECT_EQ(stored["chat_template"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(stored["chat_template"]["origin"],
            FixturePath("tokenizers/qwen3") + "/tokenizer_config.json: chat_template");
  auto again = ChatPromptOptions::FromJson(stored, "mmlu");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->ToJson(), stored);
  nlohmann::json tampered = stored;
  tampered["chat_template"]["source"] = "{{ messages }}";
  EXPECT_NE(ChatPromptOptions::FromJson(tampered, "mmlu").status().message().find("sha256 does not match"),
            std::string::npos);
}

}  // namespace
}  // namespace fp4lab
