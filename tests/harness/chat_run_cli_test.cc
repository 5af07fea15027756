// `fp4lab run --chat-template` end to end: MMLU on the bundled stories260K with TinyLlama's chat template stores the
// rendered conversation as each sample's prompt, and the task config names the template and its sha256; the
// default (no template) leaves prompts as plain text and records "none".
#include <gtest/gtest.h>

#include <filesystem>

#include "datasets/sha256.h"
#include "engine/file_util.h"
#include "harness/cli_util.h"
#include "results/result_store.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FixturePath;
using testing::RunFp4lab;
using testing::TempDir;

struct StoredMmlu {
  TaskRecord task;
  std::vector<SampleRecord> samples;
};

StoredMmlu ReadMmlu(const std::string& db) {
  StoredMmlu out;
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return out;
  auto runs = (*store)->ListRuns();
  EXPECT_TRUE(runs.ok() && runs->size() == 1u);
  auto tasks = (*store)->ListTasks(runs->back().id);
  EXPECT_TRUE(tasks.ok() && !tasks->empty());
  out.task = tasks->front();
  auto samples = (*store)->ListSamples(runs->back().id, "mmlu", out.task.precision);
  EXPECT_TRUE(samples.ok());
  if (samples.ok()) out.samples = *samples;
  return out;
}

const std::string kMmluArgs =
    "run --report \"\" --tasks mmlu --precisions bf16 --limit 1 --mmlu-subjects abstract_algebra --mmlu-shots 1 "
    "--log-samples --db ";

TEST(ChatRunCli, StoresTheRenderedConversationAndNamesTheTemplate) {
  const std::string dir = TempDir("chat_run_cli");
  const std::string config = FixturePath("tokenizers/tinyllama-1.1b-chat-v1.0/tokenizer_config.json");
  auto r = RunFp4lab(kMmluArgs + dir + "/chat.sqlite --chat-template " + config + " --system-prompt 'Be exact.'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const StoredMmlu chat = ReadMmlu(dir + "/chat.sqlite");
  ASSERT_EQ(chat.samples.size(), 1u);
  const std::string& prompt = chat.samples[0].prompt_text;
  // TinyLlama's template: "<|system|>\n" + content + "</s>\n" per message, then "<|assistant|>"; multi-turn shots.
  EXPECT_EQ(prompt.rfind("<|system|>\nBe exact.\n\nThe following are multiple choice questions (with answers) about "
                         "abstract algebra.\n\n</s>\n<|user|>\n",
                         0),
            0u)
      << prompt;
  EXPECT_NE(prompt.find("Answer:</s>\n<|assistant|>\nB</s>\n<|user|>\n"), std::string::npos) << prompt;
  const std::string end = "Answer:</s>\n<|assistant|>\n";
  ASSERT_GT(prompt.size(), end.size());
  EXPECT_EQ(prompt.substr(prompt.size() - end.size()), end) << prompt;
  const nlohmann::json& t = chat.task.config["chat_template"];
  EXPECT_EQ(t["origin"], config + ": chat_template");
  EXPECT_EQ(t["sha256"], Sha256Hex(t["source"].get<std::string>()));
  EXPECT_EQ(chat.task.config["fewshot_as_multiturn"], true);
  EXPECT_EQ(chat.task.config["system_prompt"], "Be exact.");
  // The report names the template by origin and sha256 (not its text).
  auto report = RunFp4lab("report --db " + dir + "/chat.sqlite --format md --out " + dir + "/report.md");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  auto markdown = ReadFile(dir + "/report.md");
  ASSERT_TRUE(markdown.ok());
  EXPECT_NE(markdown->find(t["sha256"].get<std::string>()), std::string::npos);
  EXPECT_NE(markdown->find("tokenizer\\_config.json: chat\\_template"), std::string::npos);  // Markdown escapes _
  EXPECT_EQ(markdown->find("loop.last"), std::string::npos);

  auto plain = RunFp4lab(kMmluArgs + dir + "/plain.sqlite");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  const StoredMmlu none = ReadMmlu(dir + "/plain.sqlite");
  ASSERT_EQ(none.samples.size(), 1u);
  EXPECT_EQ(none.task.config["chat_template"], "none");
  EXPECT_EQ(none.samples[0].prompt_text.rfind("The following are multiple choice questions", 0), 0u);
  EXPECT_EQ(none.samples[0].output_text.substr(0, 1), " ");  // plain continuations keep lm-eval's " A".." D"

  auto refused = RunFp4lab(kMmluArgs + dir + "/refused.sqlite --fewshot-as-multiturn");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--fewshot-as-multiturn needs a chat template"), std::string::npos) << refused.output;
}

}  // namespace
}  // namespace fp4lab
