#include "tasks/humaneval_task.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tasks/fake_language_model.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FakeLanguageModel;
using testing::FakeModelOptions;

// A fake model whose Generate emits script(prompt text) byte by byte (then EOS), and records each call.
class ScriptedModel : public FakeLanguageModel {
 public:
  static FakeModelOptions ContextOptions(int max_context) {
    FakeModelOptions options;
    options.max_context = max_context;
    return options;
  }

  struct Call {
    size_t prompt_tokens = 0;
    int max_new_tokens = 0;
    SamplingOptions sampling;
  };

  explicit ScriptedModel(std::function<std::string(const std::string& prompt)> script, int max_context = 8192)
      : FakeLanguageModel(ContextOptions(max_context)), script_(std::move(script)) {}

  Result<std::vector<TokenId>> Generate(std::span<const TokenId> prompt, int max_new_tokens,
                                        const SamplingOptions& sampling,
                                        const std::function<bool(TokenId)>& on_token) override {
    calls_.push_back({prompt.size(), max_new_tokens, sampling});
    FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> script, Encode(script_(Decode(prompt))));
    std::vector<TokenId> generated;
    for (TokenId t : script) {
      if (static_cast<int>(generated.size()) == max_new_tokens) break;
      generated.push_back(t);
      if (!on_token(t)) break;
    }
    return generated;
  }

  const std::vector<Call>& calls() const { return calls_; }

 private:
  std::function<std::string(const std::string&)> script_;
  std::vector<Call> calls_;
};

std::string ProblemsPath() { return testing::SourcePath("datasets/humaneval/humaneval_sample.jsonl"); }

// Canonical solution of each bundled problem, by prompt.
std::map<std::string, std::string> CanonicalByPrompt() {
  const auto problems = ReadHumanEvalProblems(ProblemsPath());
  EXPECT_TRUE(problems.ok()) << problems.status().ToString();
  std::map<std::string, std::string> by_prompt;
  if (problems.ok()) {
    for (const HumanEvalProblem& p : *problems) by_prompt[p.prompt] = p.canonical_solution;
  }
  return by_prompt;
}

HumanevalOptions Options(int limit) {
  HumanevalOptions options;
  options.problems_path = ProblemsPath();
  options.limit = limit;
  options.sandbox.allow_code_exec = true;
  options.sandbox.workers = 4;
  return options;
}

std::vector<SampleRecord> RunTask(Task& task, LanguageModel& model, const std::string& precision,
                                  bool log_samples = false) {
  std::vector<SampleRecord> samples;
  const auto emit = [&](std::vector<SampleRecord>&& batch) {
    for (SampleRecord& s : batch) {
      s.precision = precision;
      samples.push_back(std::move(s));
    }
    return Status::Ok();
  };
  TaskRun run{model, precision, false, [](const std::string&) { return true; }, emit, nullptr, log_samples};
  const Status status = task.Run(run);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return samples;
}

std::map<std::string, MetricRecord> ByName(const std::vector<MetricRecord>& metrics) {
  std::map<std::string, MetricRecord> by_name;
  for (const MetricRecord& m : metrics) by_name[m.metric] = m;
  return by_name;
}

TEST(StopSequenceTest, FindsTheEarliestColumnZeroStop) {
  EXPECT_EQ(FindStopSequence("    return x\n", kHumanEvalStopSequences), std::string_view::npos);
  EXPECT_EQ(FindStopSequence("a\n    if b:\n        print(c)\n", kHumanEvalStopSequences), std::string_view::npos);
  EXPECT_EQ(FindStopSequence("x\n# note\nif y", kHumanEvalStopSequences), 1u);
  EXPECT_EQ(FindStopSequence("x\n\nprint(1)\nclass A", kHumanEvalStopSequences), 2u);
}

TEST(GenerateUntilTest, StopsOnceTheDecodedTextHoldsAStopSequenceAndCutsThere) {
  ScriptedModel model([](const std::string&) { return "    return 1\n\ndef helper():\n    pass\n"; });
  const std::vector<TokenId> prompt = {model.BosId()};
  const auto result = GenerateUntil(model, prompt, kHumanEvalStopSequences, 100, {});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->text, "    return 1\n");
  EXPECT_EQ(result->finish, "stop");
  // "\ndef" occupies bytes 13..16: generation ends with the token that completes it.
  EXPECT_EQ(result->tokens.size(), 17u);
}

TEST(GenerateUntilTest, ReportsEosAndLength) {
  ScriptedModel model([](const std::string&) { return "    return 2\n"; });
  const std::vector<TokenId> prompt = {model.BosId()};
  const auto eos = GenerateUntil(model, prompt, kHumanEvalStopSequences, 100, {});
  ASSERT_TRUE(eos.ok());
  EXPECT_EQ(eos->text, "    return 2\n");
  EXPECT_EQ(eos->finish, "eos");
  const auto length = GenerateUntil(model, prompt, kHumanEvalStopSequences, 5, {});
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(length->text, "    r");
  EXPECT_EQ(length->finish, "length");
  const auto too_long = GenerateUntil(model, prompt, kHumanEvalStopSequences, model.MaxContext(), {});
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
}

TEST(HumanevalTaskTest, CanonicalSolutionsPassAndPassBodiesFail) {
  auto task = HumanevalTask::Create(Options(4));
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  const auto canonical = CanonicalByPrompt();
  ScriptedModel good([&](const std::string& prompt) { return canonical.at(prompt); });
  const std::vector<SampleRecord> passed = RunTask(**task, good, "bf16", /*log_samples=*/true);
  ASSERT_EQ(passed.size(), 4u);
  for (size_t i = 0; i < passed.size(); ++i) {
    const SampleRecord& s = passed[i];
    EXPECT_EQ(s.sample_id, "HumanEval/" + std::to_string(i) + "#0");
    EXPECT_EQ(s.outcome, "passed") << s.data["message"];
    EXPECT_EQ(s.score, 1.0);
    EXPECT_EQ(s.data["finish"], "eos");
    EXPECT_EQ(s.data["prompt_truncated"], false);
    EXPECT_FALSE(s.data["isolation"].get<std::string>().empty());
    EXPECT_EQ(s.output_text, canonical.at(s.prompt_text));
    EXPECT_EQ(s.prompt_sha256.size(), 64u);
  }
  for (const ScriptedModel::Call& call : good.calls()) {
    EXPECT_EQ(call.max_new_tokens, 512);
    EXPECT_EQ(call.sampling.temperature, 0.0f);
  }

  ScriptedModel lazy([](const std::string&) { return "    pass\n"; });
  const std::vector<SampleRecord> failed = RunTask(**task, lazy, "nvfp4");
  ASSERT_EQ(failed.size(), 4u);
  for (const SampleRecord& s : failed) {
    EXPECT_EQ(s.outcome, "failed");
    EXPECT_EQ(s.score, 0.0);
    EXPECT_FALSE(s.data["message"].get<std::string>().empty());
    EXPECT_TRUE(s.output_text.empty());  // completions are kept only with log_samples
  }

  const auto good_metrics = (*task)->Aggregate(passed);
  const auto bad_metrics = (*task)->Aggregate(failed);
  ASSERT_TRUE(good_metrics.ok() && bad_metrics.ok());
  EXPECT_EQ(ByName(*good_metrics).at("pass@1").value, 1.0);
  EXPECT_EQ(ByName(*bad_metrics).at("pass@1").value, 0.0);
  EXPECT_EQ(ByName(*bad_metrics).at("problems").value, 4.0);

  const auto compared = (*task)->Compare(failed, passed);
  ASSERT_TRUE(compared.ok()) << compared.status().ToString();
  ASSERT_EQ(compared->size(), 1u);
  const ComparisonRecord& c = compared->front();
  EXPECT_EQ(c.metric, "pass@1");
  EXPECT_EQ(c.precision, "nvfp4");
  EXPECT_EQ(c.reference_precision, "bf16");
  EXPECT_EQ(c.delta, -1.0);
  EXPECT_EQ(c.extra["right_to_wrong"], 4);
  // 2 * C(4,0) / 2^4; McNemarExactPValue goes through lgamma (relative error ~1e-14, see paired_accuracy_test).
  EXPECT_NEAR(*c.p_value, 2.0 / 16.0, 2.0 / 16.0 * 1e-12);
}

TEST(HumanevalTaskTest, StopSequencesCutTheCompletionBeforeItRuns) {
  auto task = HumanevalTask::Create(Options(1));
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  const auto canonical = CanonicalByPrompt();
  // The canonical body followed by top-level code that would fail the tests if it ran.
  ScriptedModel model([&](const std::string& prompt) {
    return canonical.at(prompt) + "\nif True:\n    raise SystemExit(1)\n";
  });
  const std::vector<SampleRecord> samples = RunTask(**task, model, "bf16", /*log_samples=*/true);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].data["finish"], "stop");
  EXPECT_EQ(samples[0].output_text, canonical.at(samples[0].prompt_text));
  EXPECT_EQ(samples[0].outcome, "passed") << samples[0].data["message"];
}

TEST(HumanevalTaskTest, ChatTemplateRendersSystemAndProblemAsAConversation) {
  HumanevalOptions options = Options(1);
  auto chat = ChatPromptOptions::Resolve("auto", testing::FixturePath("tokenizers/qwen3"), -1, "Write Python.");
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  options.chat = *chat;
  auto task = HumanevalTask::Create(options);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  EXPECT_EQ((*task)->Config()["system_prompt"], "Write Python.");
  EXPECT_EQ((*task)->Config()["bos"], "unless the context starts with bos_token");
  const auto canonical = CanonicalByPrompt();
  // lm-eval with --apply_chat_template: [system, user(prompt)] rendered with add_generation_prompt (Qwen3's template).
  auto conversation = [](const std::string& prompt) {
    return "<|im_start|>system\nWrite Python.<|im_end|>\n<|im_start|>user\n" + prompt +
           "<|im_end|>\n<|im_start|>assistant\n";
  };
  std::map<std::string, std::string> canonical_by_conversation;
  for (const auto& [prompt, solution] : canonical) canonical_by_conversation[conversation(prompt)] = solution;
  ScriptedModel model([&](const std::string& text) { return canonical_by_conversation.at(text); });
  const std::vector<SampleRecord> samples = RunTask(**task, model, "bf16", /*log_samples=*/true);
  ASSERT_EQ(samples.size(), 1u);
  ASSERT_EQ(canonical_by_conversation.count(samples[0].prompt_text), 1u) << samples[0].prompt_text;
  EXPECT_EQ(samples[0].outcome, "passed") << samples[0].data["message"];
  // Qwen3 has no bos_token, so fp4lab's BOS still goes first: one token more than the rendered text.
  ASSERT_EQ(model.calls().size(), 1u);
  EXPECT_EQ(model.calls()[0].prompt_tokens, model.Encode(samples[0].prompt_text)->size() + 1);
}

TEST(HumanevalTaskTest, EvalPlusSuiteGeneratesFromTheStrippedPromptAndScoresBothPhases) {
  HumanevalOptions options = Options(0);
  options.suite = CodeSuite::kHumanEvalPlus;
  options.problems_path = testing::FixturePath("evalplus/humanevalplus_mini.jsonl");
  auto task = HumanevalTask::Create(options);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  EXPECT_EQ((*task)->Name(), "humaneval+");
  const auto problems = ReadEvalPlusProblems(options.problems_path);
  ASSERT_TRUE(problems.ok());
  // evalplus codegen prompts with prompt.strip() + "\n"; "\ndef " is one of its stops for HumanEval.
  std::map<std::string, std::string> by_prompt;
  for (const HumanEvalProblem& p : *problems) {
    const size_t end = p.prompt.find_last_not_of(" \n");
    by_prompt[p.prompt.substr(0, end + 1) + "\n"] = p.canonical_solution + "\ndef unused():\n    pass\n";
  }
  ScriptedModel good([&](const std::string& prompt) { return by_prompt.at(prompt); });
  const std::vector<SampleRecord> samples = RunTask(**task, good, "bf16", /*log_samples=*/true);
  ASSERT_EQ(samples.size(), 2u);
  for (const SampleRecord& s : samples) {
    EXPECT_EQ(s.outcome, "passed") << s.data["message"];
    EXPECT_EQ(s.data["finish"], "stop");
    EXPECT_EQ(s.data["base_status"], "pass");
    EXPECT_EQ(s.data["plus_status"], "pass");
    EXPECT_EQ(s.output_text.find("unused"), std::string::npos);
  }
  ScriptedModel half([](const std::string&) { return "    return abs(x) + y if 'x' in dir() else sum(xs) / 2\n"; });
  const std::vector<SampleRecord> failed = RunTask(**task, half, "nvfp4");
  ASSERT_EQ(failed.size(), 2u);
  // add: right on the base inputs only; mean: sum / 2 is right on the base input [1.0, 2.0] only.
  for (const SampleRecord& s : failed) {
    EXPECT_EQ(s.outcome, "failed") << s.sample_id;
    EXPECT_EQ(s.data["base_status"], "pass") << s.sample_id << " " << s.data["message"];
    EXPECT_EQ(s.data["plus_status"], "fail") << s.sample_id;
  }
  const auto metrics = (*task)->Aggregate(failed);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  EXPECT_EQ(ByName(*metrics).at("pass@1").value, 0.0);
  EXPECT_EQ(ByName(*metrics).at("base_pass@1").value, 1.0);
}

TEST(HumanevalTaskTest, RefusesToRunCodeWithoutTheOptIn) {
  HumanevalOptions options = Options(2);
  options.sandbox.allow_code_exec = false;
  auto task = HumanevalTask::Create(options);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  ScriptedModel model([](const std::string&) { return "    pass\n"; });
  TaskRun run{model, "bf16", false, [](const std::string&) { return true; },
              [](std::vector<SampleRecord>&&) { return Status::Ok(); }, nullptr, false};
  const Status status = (*task)->Run(run);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("--allow-code-exec"), std::string::npos) << status.message();
  EXPECT_TRUE(model.calls().empty());  // nothing was generated either
}

TEST(HumanevalTaskTest, DrawsUseConsecutiveSeeds) {
  HumanevalOptions options = Options(1);
  options.samples_per_problem = 2;
  options.sampling.temperature = 0.2f;
  options.sampling.top_p = 0.95f;
  options.sampling.seed = 100;
  options.ks = {1, 2};
  auto task = HumanevalTask::Create(options);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  ScriptedModel model([](const std::string&) { return "    return 0.5\n"; });
  const std::vector<SampleRecord> samples = RunTask(**task, model, "bf16");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].sample_id, "HumanEval/0#0");
  EXPECT_EQ(samples[1].sample_id, "HumanEval/0#1");
  ASSERT_EQ(model.calls().size(), 2u);
  EXPECT_EQ(model.calls()[0].sampling.seed, 100u);
  EXPECT_EQ(model.calls()[1].sampling.seed, 101u);
  EXPECT_EQ(model.calls()[1].sampling.top_p, 0.95f);

  options.sampling.temperature = 0.0f;
  const auto greedy_draws = HumanevalTask::Create(options);
  ASSERT_FALSE(greedy_draws.ok());
  EXPECT_EQ(greedy_draws.status().code(), StatusCode::kInvalidArgument);
}

TEST(HumanevalTaskTest, LongPromptsKeepTheirTailAndLeaveRoomToGenerate) {
  auto task = HumanevalTask::Create(Options(1));
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  ScriptedModel model([](const std::string&) { return "    return 1\n"; }, /*max_context=*/40);
  const std::vector<SampleRecord> samples = RunTask(**task, model, "bf16");
  ASSERT_EQ(samples.size(), 1u);
  ASSERT_EQ(model.calls().size(), 1u);
  EXPECT_EQ(model.calls()[0].prompt_tokens, 39u);
  EXPECT_EQ(model.calls()[0].max_new_tokens, 1);
  EXPECT_EQ(samples[0].data["prompt_truncated"], true);
  EXPECT_EQ(samples[0].data["finish"], "length");
  const auto metrics = (*task)->Aggregate(samples);
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(ByName(*metrics).at("truncated").value, 1.0);
}

TEST(HumanevalTaskTest, EndlessLoopsTimeOut) {
  HumanevalOptions options = Options(1);
  options.sandbox.limits.wall_timeout_s = 0.5;
  options.sandbox.limits.cpu_seconds = 1;
  auto task = HumanevalTask::Create(options);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  ScriptedModel model([](const std::string&) { return "    while True:\n        pass\n"; });
  const std::vector<SampleRecord> samples = RunTask(**task, model, "bf16");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].outcome, "timed_out");
  EXPECT_EQ(samples[0].score, 0.0);
  const auto metrics = (*task)->Aggregate(samples);
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(ByName(*metrics).at("timed_out").value, 1.0);
}

SampleRecord Stored(const std::string& id, bool passed) {
  SampleRecord s;
  s.task = "humaneval";
  s.precision = "bf16";
  s.sample_id = id;
  s.score = passed ? 1.0 : 0.0;
  s.outcome = passed ? "passed" : "failed";
  s.data = {{"prompt_truncated", false}};
  return s;
}

TEST(HumanevalTaskTest, AggregatesUnbiasedPassAtK) {
  HumanevalOptions options = Options(0);
  options.ks = {4, 2, 3};
  auto task = HumanevalTask::Create(options);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  // Problem A (HumanEval/0): 1 of 3 draws passed; problem B (HumanEval/1): 3 of 3.
  const std::vector<SampleRecord> samples = {Stored("HumanEval/1#2", true), Stored("HumanEval/0#0", true),
                                             Stored("HumanEval/1#0", true),  Stored("HumanEval/0#1", false),
                                             Stored("HumanEval/1#1", true),  Stored("HumanEval/0#2", false)};
  const auto metrics = (*task)->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  const auto m = ByName(*metrics);
  // pass@k per problem = 1 - C(n - c, k) / C(n, k): A gives 1/3, 2/3, 1 for k = 1, 2, 3; B gives 1.
  EXPECT_NEAR(m.at("pass@1").value, (1.0 / 3.0 + 1.0) / 2.0, 1e-12);
  // Standard error of the two per-problem estimates {1/3, 1}: sample std (2/3)/sqrt(2), over sqrt(2).
  EXPECT_NEAR(*m.at("pass@1").stderr_value, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.at("pass@2").value, (2.0 / 3.0 + 1.0) / 2.0, 1e-12);
  EXPECT_NEAR(m.at("pass@3").value, 1.0, 1e-12);
  EXPECT_EQ(m.count("pass@4"), 0u);  // more than the 3 draws per problem
  EXPECT_EQ(m.at("pass@1").n, 2);
  EXPECT_EQ(m.at("pass@1").higher_is, "better");
  EXPECT_EQ(m.at("samples").value, 6.0);
}

TEST(HumanevalTaskTest, AggregateRejectsMalformedSamples) {
  auto task = HumanevalTask::Create(Options(0));
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  const auto expect_error = [&](std::vector<SampleRecord> samples, const std::string& fragment) {
    const auto result = (*task)->Aggregate(samples);
    ASSERT_FALSE(result.ok()) << fragment;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status().message();
  };
  expect_error({}, "no samples");
  expect_error({Stored("HumanEval/1", true)}, "HumanEval/1");
  expect_error({Stored("#0", true)}, "'#0'");
  expect_error({Stored("HumanEval/1#01", true)}, "HumanEval/1#01");
  expect_error({Stored("HumanEval/1#0", true), Stored("HumanEval/1#0", false)}, "occurs twice");
  SampleRecord fractional = Stored("HumanEval/2#0", true);
  fractional.score = 0.5;
  expect_error({fractional}, "expected 0 or 1");
  SampleRecord no_flag = Stored("HumanEval/2#0", true);
  no_flag.data = nlohmann::json::object();
  expect_error({no_flag}, "prompt_truncated");
}

TEST(HumanevalTaskTest, CreateValidatesOptionsAndRecordsConfig) {
  HumanevalOptions options = Options(0);
  options.ks = {0};
  EXPECT_EQ(HumanevalTask::Create(options).status().code(), StatusCode::kInvalidArgument);
  options = Options(0);
  options.max_new_tokens = 0;
  EXPECT_EQ(HumanevalTask::Create(options).status().code(), StatusCode::kInvalidArgument);
  options = Options(0);
  options.problems_path = testing::SourcePath("datasets/humaneval/missing.jsonl");
  EXPECT_FALSE(HumanevalTask::Create(options).ok());
  const auto task = HumanevalTask::Create(Options(3));
  ASSERT_TRUE(task.ok());
  const nlohmann::json config = (*task)->Config();
  EXPECT_EQ(config["max_new_tokens"], 512);
  EXPECT_EQ(config["n"], 1);
  EXPECT_EQ(config["stop"], nlohmann::json({"\nclass", "\ndef", "\n#", "\nif", "\nprint"}));
  EXPECT_EQ((*task)->DatasetSha256(), "2f297bdb74812d59c40759e173034b38b855215a11a3203dbc45ca111b1fdc7d");
}

}  // namespace
}  // namespace fp4lab
