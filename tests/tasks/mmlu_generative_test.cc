#include "tasks/mmlu_generative.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tasks/fake_language_model.h"
#include "tasks/mmlu_prompt.h"
#include "tasks/registry.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FakeLanguageModel;
using testing::FakeModelOptions;

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// abstract_algebra test rows with golds C, A, C, B.
std::string MakeMmluDir(const std::string& name) {
  const std::filesystem::path dir = testing::TempDir(name);
  WriteFile(dir / "test" / "abstract_algebra_test.csv",
            "First?,w,x,y,z,C\nSecond?,w,x,y,z,A\nThird?,w,x,y,z,C\nFourth?,w,x,y,z,B\n");
  return dir.string();
}

// Generates a scripted text per question (found by the question text in the prompt), byte tokens as the fake
// tokenizer has them; records each prompt.
class ScriptedModel : public FakeLanguageModel {
 public:
  ScriptedModel(FakeModelOptions options, std::map<std::string, std::string> script)
      : FakeLanguageModel(std::move(options)), script_(std::move(script)) {}

  Result<std::vector<TokenId>> Generate(std::span<const TokenId> prompt, int max_new_tokens, const SamplingOptions&,
                                        const std::function<bool(TokenId)>& on_token) override {
    prompts.emplace_back(prompt.begin(), prompt.end());
    const std::string text = Decode(prompt);
    std::string answer;
    for (const auto& [question, reply] : script_) {
      if (text.find(question) != std::string::npos) answer = reply;
    }
    const std::vector<TokenId> tokens = *Encode(answer);
    std::vector<TokenId> out;
    for (TokenId t : tokens) {
      if (static_cast<int>(out.size()) == max_new_tokens) break;
      out.push_back(t);
      if (!on_token(t)) break;
    }
    return out;
  }

  std::vector<std::vector<TokenId>> prompts;

 private:
  std::map<std::string, std::string> script_;
};

FakeModelOptions Context(int max_context) {
  FakeModelOptions options;
  options.max_context = max_context;
  return options;
}

MmluGenerativeOptions Options(const std::string& dir, int max_new_tokens = kMmluGenerativeMaxGenToks) {
  MmluGenerativeOptions options;
  options.mmlu.data_dir = dir;
  options.mmlu.subjects = {"abstract_algebra"};
  options.max_new_tokens = max_new_tokens;
  return options;
}

std::vector<SampleRecord> RunTask(Task& task, LanguageModel& model, const std::string& precision) {
  std::vector<SampleRecord> samples;
  TaskRun run{model, precision, precision == "bf16"};
  run.should_run = [](const std::string&) { return true; };
  run.emit = [&](std::vector<SampleRecord>&& batch) {
    for (SampleRecord& s : batch) {
      s.precision = precision;
      samples.push_back(std::move(s));
    }
    return Status::Ok();
  };
  run.log_samples = true;
  const Status status = task.Run(run);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return samples;
}

TEST(MmluGenerativeFilterTest, KeepsTheFirstLinePythonStripped) {
  EXPECT_EQ(MmluGenerativeResponse(" B\nC"), "B");
  EXPECT_EQ(MmluGenerativeResponse("\nB"), "");
  EXPECT_EQ(MmluGenerativeResponse("\t(c) \r"), "(c)");
  EXPECT_EQ(MmluGenerativeResponse("\xC2\xA0" "D\xC2\xA0"), "D");  // U+00A0 is whitespace to Python's strip
  EXPECT_EQ(MmluGenerativeResponse(""), "");
}

TEST(MmluGenerativeFilterTest, ExactMatchIgnoresCaseAndAsciiPunctuationOnly) {
  EXPECT_EQ(MmluGenerativeLetter("B"), 'B');
  EXPECT_EQ(MmluGenerativeLetter("b"), 'B');
  EXPECT_EQ(MmluGenerativeLetter("(c)"), 'C');
  EXPECT_EQ(MmluGenerativeLetter("D."), 'D');
  EXPECT_EQ(MmluGenerativeLetter("**A**"), 'A');
  EXPECT_EQ(MmluGenerativeLetter("B. Paris"), '\0');  // the space and the word stay
  EXPECT_EQ(MmluGenerativeLetter("E"), '\0');
  EXPECT_EQ(MmluGenerativeLetter("AB"), '\0');
  EXPECT_EQ(MmluGenerativeLetter(""), '\0');
  EXPECT_EQ(MmluGenerativeLetter("\xE2\x80\x9C" "A" "\xE2\x80\x9D"), '\0');  // curly quotes are not string.punctuation
}

TEST(MmluGenerativeTaskTest, GeneratesUntilNewlineAndScoresTheFilteredLetter) {
  const std::string dir = MakeMmluDir("mmlu_generative_run");
  auto task = MmluGenerativeTask::Create(Options(dir));
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  ScriptedModel model(Context(512), {{"First?", " C\nD\nD"},           // correct, stops at the newline
                                     {"Second?", " (a)."},              // correct after the filter
                                     {"Third?", " The answer is C"},    // no letter
                                     {"Fourth?", " C"}});               // wrong letter, ends by EOS
  const std::vector<SampleRecord> samples = RunTask(**task, model, "bf16");
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0].sample_id, "abstract_algebra/0");
  EXPECT_EQ(samples[0].score, 1.0);
  EXPECT_EQ(samples[0].data["pred"], "C");
  EXPECT_EQ(samples[0].data["finish"], "stop");
  EXPECT_EQ(samples[0].data["completion_tokens"], 3);  // " ", "C", "\n"
  EXPECT_EQ(samples[0].output_text, " C");
  EXPECT_EQ(samples[1].score, 1.0);
  EXPECT_EQ(samples[1].data["response"], "(a).");
  EXPECT_EQ(samples[2].score, 0.0);
  EXPECT_EQ(samples[2].data["pred"], "");
  EXPECT_EQ(samples[3].score, 0.0);
  EXPECT_EQ(samples[3].data["pred"], "C");
  EXPECT_EQ(samples[3].data["gold"], 1);
  EXPECT_EQ(samples[3].data["finish"], "eos");
  // The prompt is BOS + the loglikelihood task's context, encoded as is.
  MmluQuestion first;
  first.question = "First?";
  first.choices = {"w", "x", "y", "z"};
  first.answer = 2;
  const auto prompt = BuildMmluPrompt("abstract_algebra", {}, 0, first);
  ASSERT_TRUE(prompt.ok());
  std::vector<TokenId> expected = *model.Encode(prompt->context);
  expected.insert(expected.begin(), model.BosId());
  EXPECT_EQ(model.prompts[0], expected);
  EXPECT_EQ(samples[0].prompt_text, prompt->context);

  const auto metrics = (*task)->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  std::map<std::string, double> by_name;
  for (const MetricRecord& m : *metrics) by_name[m.metric] = m.value;
  EXPECT_EQ(by_name.at("exact_match"), 0.5);
  EXPECT_EQ(by_name.at("exact_match/abstract_algebra"), 0.5);
  EXPECT_EQ(by_name.at("exact_match_cat/stem"), 0.5);
  EXPECT_EQ(by_name.at("no_letter"), 1.0);
  EXPECT_EQ(by_name.at("truncated"), 0.0);

  // Paired against a candidate that gets the third right and the first wrong.
  ScriptedModel candidate(Context(512), {{"First?", " D"}, {"Second?", "A"}, {"Third?", "c"}, {"Fourth?", " C"}});
  const auto comparisons = (*task)->Compare(RunTask(**task, candidate, "nvfp4"), samples);
  ASSERT_TRUE(comparisons.ok());
  ASSERT_EQ(comparisons->size(), 1u);
  EXPECT_EQ((*comparisons)[0].metric, "exact_match");
  EXPECT_EQ((*comparisons)[0].delta, 0.0);
  EXPECT_EQ((*comparisons)[0].extra["right_to_wrong"], 1);
  EXPECT_EQ((*comparisons)[0].extra["wrong_to_right"], 1);
}

TEST(MmluGenerativeTaskTest, TruncatesTheContextFromTheLeftToLeaveMaxNewTokens) {
  const std::string dir = MakeMmluDir("mmlu_generative_truncate");
  auto task = MmluGenerativeTask::Create(Options(dir, 8));
  ASSERT_TRUE(task.ok());
  ScriptedModel model(Context(40), {{"z", " C"}});
  const std::vector<SampleRecord> samples = RunTask(**task, model, "bf16");
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(model.prompts[0].size(), 32u);  // lm-eval: the last max_length - max_gen_toks context tokens
  EXPECT_EQ(samples[0].data["truncated"], true);
  EXPECT_GT(samples[0].data["context_tokens"].get<int>(), 32);
  EXPECT_EQ(model.Decode(model.prompts[0]).substr(32 - 7), "Answer:");
}

TEST(MmluGenerativeTaskTest, PreflightNeedsRoomForAPromptAndRegistryRebuildsTheStoredConfig) {
  const std::string dir = MakeMmluDir("mmlu_generative_preflight");
  auto task = MmluGenerativeTask::Create(Options(dir));
  ASSERT_TRUE(task.ok());
  FakeLanguageModel small(Context(256));
  EXPECT_EQ((*task)->Preflight(small, nullptr).code(), StatusCode::kInvalidArgument);
  FakeLanguageModel large(Context(257));
  EXPECT_TRUE((*task)->Preflight(large, nullptr).ok());
  EXPECT_FALSE(MmluGenerativeTask::Create(Options(dir, 0)).ok());

  const nlohmann::json config = (*task)->Config();
  EXPECT_EQ(config["max_new_tokens"], 256);
  EXPECT_EQ(config["until"], nlohmann::json({"</s>", "\n"}));
  EXPECT_NE(config["convention"].get<std::string>().find("mmlu_generative"), std::string::npos);
  auto rebuilt = CreateTask("mmlu_generative", config, "unused");
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ((*rebuilt)->Config(), config);
  EXPECT_EQ((*rebuilt)->DatasetSha256(), (*task)->DatasetSha256());
}

}  // namespace
}  // namespace fp4lab
