// Batched evaluation equals one-at-a-time evaluation, per sample, on the bundled model (stories260K) on the CPU
// reference backend: perplexity (both conventions), fidelity, MMLU and HumanEval generation.
//
// Bound: zero. On the CPU backend every op works row by row in the same operation order whatever the other rows of
// a pass are (each Linear row is its own f32 dot products, each attention row reads only its own sequence's keys;
// tests/engine/score_batch_test.cc and decode_step_test.cc check the engine's side bit for bit), and the tasks sum
// per-sample numbers in the same order on both paths; generation samples each request with its own generator. So
// the batched path must reproduce the one-at-a-time path exactly: the comparisons below are equality, and a
// difference in any bit fails them.
//
// "One at a time" is the same engine behind OneAtATime, which hides the engine's batched methods so that the
// LanguageModel defaults run instead (one ScoreTokens / Logits / Generate call per sequence).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "engine/batch_memory.h"
#include "engine/engine.h"
#include "fake_language_model.h"
#include "tasks/fidelity.h"
#include "tasks/humaneval_task.h"
#include "tasks/lm_requests.h"
#include "tasks/mmlu_task.h"
#include "tasks/perplexity.h"
#include "test_util.h"

namespace fp4lab {
namespace {

// The engine's single-sequence methods only: ScoreBatch, LogitsBatch and GenerateBatch fall back to the defaults.
class OneAtATime : public LanguageModel {
 public:
  explicit OneAtATime(Engine& engine) : engine_(engine) {}
  std::string Describe() const override { return engine_.Describe() + ", one at a time"; }
  int VocabSize() const override { return engine_.VocabSize(); }
  int MaxContext() const override { return engine_.MaxContext(); }
  TokenId BosId() const override { return engine_.BosId(); }
  TokenId EosId() const override { return engine_.EosId(); }
  std::vector<TokenId> EosIds() const override { return engine_.EosIds(); }
  Result<std::vector<TokenId>> Encode(std::string_view text) const override { return engine_.Encode(text); }
  std::string Decode(std::span<const TokenId> tokens) const override { return engine_.Decode(tokens); }
  Result<std::vector<float>> Logits(std::span<const TokenId> tokens) override { return engine_.Logits(tokens); }
  Result<std::vector<TokenScore>> ScoreTokens(std::span<const TokenId> tokens,
                                              std::span<const ScoreRequest> requests) override {
    return engine_.ScoreTokens(tokens, requests);
  }
  Result<std::vector<TokenId>> Generate(std::span<const TokenId> prompt, int max_new_tokens,
                                        const SamplingOptions& sampling,
                                        const std::function<bool(TokenId)>& on_token) override {
    return engine_.Generate(prompt, max_new_tokens, sampling, on_token);
  }

 private:
  Engine& engine_;
};

std::unique_ptr<Engine> OpenStories(const std::string& precision = "bf16", int64_t batch_memory_bytes = 0) {
  EngineOptions options;
  options.model_dir = testing::SourcePath("datasets/models/stories260K");
  options.precision = precision;
  options.batch_memory_bytes = batch_memory_bytes;
  auto engine = Engine::Open(options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

// Two short documents: enough for several perplexity windows and fidelity chunks of 16 tokens each.
std::string ShortText() {
  return testing::WriteTempText(
      "batched_tasks.txt",
      "Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog.\n"
      "<|endoftext|>\nTom lost his red ball. He was very sad, so his friend Sam helped him look for it.\n");
}

// Runs `task` on `model` and returns its samples by id (with `attachments` of the reference filled or read).
std::map<std::string, SampleRecord> RunTask(Task& task, LanguageModel& model, bool is_reference,
                                            std::map<std::string, std::vector<std::string>>* attachments = nullptr) {
  std::map<std::string, SampleRecord> samples;
  TaskRun run{.model = model,
              .precision = "p",
              .is_reference = is_reference,
              .should_run = [](const std::string&) { return true; },
              .emit =
                  [&](std::vector<SampleRecord>&& batch) {
                    for (SampleRecord& s : batch) {
                      if (is_reference && attachments != nullptr) (*attachments)[s.sample_id] = s.attachment;
                      samples[s.sample_id] = std::move(s);
                    }
                    return Status::Ok();
                  }};
  if (attachments != nullptr && !is_reference) {
    run.reference_attachment = [attachments](const std::string& id) -> Result<std::vector<std::string>> {
      return attachments->count(id) ? attachments->at(id) : std::vector<std::string>();
    };
  }
  const Status status = task.Run(run);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return samples;
}

// Equal sample ids, scores and data (bit for bit: nlohmann compares doubles with ==).
void ExpectSameSamples(const std::map<std::string, SampleRecord>& batched,
                       const std::map<std::string, SampleRecord>& alone) {
  ASSERT_EQ(batched.size(), alone.size());
  ASSERT_FALSE(batched.empty());
  for (const auto& [id, sample] : alone) {
    const auto it = batched.find(id);
    ASSERT_NE(it, batched.end()) << id;
    EXPECT_EQ(it->second.score, sample.score) << id;
    EXPECT_EQ(it->second.data, sample.data) << id;
    EXPECT_EQ(it->second.attachment, sample.attachment) << id;
  }
}

TEST(BatchedTasks, PerplexityBothConventionsEqualOneAtATime) {
  auto engine = OpenStories();
  ASSERT_NE(engine, nullptr);
  // A budget of one byte: every pass holds one sequence (the split path of the same code).
  auto narrow = OpenStories("bf16", 1);
  ASSERT_NE(narrow, nullptr);
  OneAtATime alone(*engine);
  const std::string text = ShortText();
  for (const auto& [convention, ctx] : {std::pair{PerplexityConvention::kLmEval, 16},
                                        std::pair{PerplexityConvention::kLlamaCpp, 16}}) {
    auto task = PerplexityTask::Create({convention, ctx, text});
    ASSERT_TRUE(task.ok()) << task.status().ToString();
    const auto expected = RunTask(**task, alone, true);
    ExpectSameSamples(RunTask(**task, *engine, true), expected);
    ExpectSameSamples(RunTask(**task, *narrow, true), expected);
    if (convention == PerplexityConvention::kLmEval) {
      // Several windows per document, so documents really span several sequences of a batch.
      int64_t windows = 0;
      for (const auto& [id, s] : expected) windows += s.data["windows"].get<int64_t>();
      EXPECT_GT(windows, static_cast<int64_t>(expected.size()));
    }
  }
}

TEST(BatchedTasks, FidelityEqualsOneAtATime) {
  auto reference = OpenStories("bf16");
  auto candidate = OpenStories("nvfp4-w4a16");
  ASSERT_NE(reference, nullptr);
  ASSERT_NE(candidate, nullptr);
  auto task = FidelityTask::Create({16, ShortText()});
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  std::map<std::string, std::vector<std::string>> batched_rows, alone_rows;
  OneAtATime reference_alone(*reference), candidate_alone(*candidate);
  ExpectSameSamples(RunTask(**task, *reference, true, &batched_rows),
                    RunTask(**task, reference_alone, true, &alone_rows));
  const auto candidate_batched = RunTask(**task, *candidate, false, &batched_rows);
  ExpectSameSamples(candidate_batched, RunTask(**task, candidate_alone, false, &alone_rows));
  // The candidate differs from the reference, so equal results are not an artifact of comparing a model with itself.
  EXPECT_GT(candidate_batched.begin()->second.score, 0.0);
}

TEST(BatchedTasks, MmluEqualsOneAtATime) {
  auto engine = OpenStories();
  ASSERT_NE(engine, nullptr);
  MmluOptions options;
  options.data_dir = testing::SourcePath("datasets/mmlu");
  options.subjects = {"abstract_algebra"};
  options.limit = 2;
  auto task = MmluTask::Create(options);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  OneAtATime alone(*engine);
  ExpectSameSamples(RunTask(**task, *engine, false), RunTask(**task, alone, false));
}

// Forwards the model runs for a set of loglikelihood requests: lm-eval shares one forward among requests with the
// same context + continuation[:-1], and only among those.
TEST(BatchedTasks, LogLikelihoodBatchSharesOneForwardPerInput) {
  testing::FakeLanguageModel model;
  const std::vector<TokenId> context = {1, 10, 11, 12};
  const std::vector<std::vector<TokenId>> one_token = {{20}, {21}, {22}, {23}};
  std::vector<LogLikelihoodRequest> requests;
  for (const auto& c : one_token) requests.push_back({context, c});
  const std::vector<TokenId> a = {30, 31}, b = {30, 32}, c = {33, 31};  // a, b share context + [30]; c does not
  requests.push_back({context, a});
  requests.push_back({context, b});
  requests.push_back({context, c});
  auto results = LogLikelihoodBatch(model, requests);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_EQ(model.forwards().size(), 3u);  // the context; context + [30]; context + [33]
  for (size_t i = 0; i < requests.size(); ++i) {
    testing::FakeLanguageModel fresh;
    auto single = LogLikelihood(fresh, requests[i].context, requests[i].continuation);
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    EXPECT_EQ((*results)[i].logprob, single->logprob) << i;
    EXPECT_EQ((*results)[i].is_greedy, single->is_greedy) << i;
  }
}

// HumanEval's generation (GenerateUntil with its stop sequences) on the bundled problems, greedy and sampled, through
// the engine's batched decode with room for every request and with two slots (requests wait and take freed slots):
// each request's tokens, text and finish equal one Generate call per request.
TEST(BatchedTasks, HumanEvalGenerationEqualsOneAtATime) {
  auto engine = OpenStories();
  ASSERT_NE(engine, nullptr);
  auto problems = ReadHumanEvalProblems(testing::SourcePath("datasets/humaneval/humaneval_sample.jsonl"));
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  std::vector<std::vector<TokenId>> prompts;
  for (size_t p = 0; p < 2; ++p) {
    auto ids = engine->Encode((*problems)[p].prompt);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    // The prompt's last 24 tokens (its end, where the completion starts), after BOS: short prompts keep this fast.
    std::vector<TokenId> prompt = {engine->BosId()};
    prompt.insert(prompt.end(), ids->end() - std::min<std::ptrdiff_t>(24, std::ssize(*ids)), ids->end());
    prompts.push_back(std::move(prompt));
  }
  std::vector<GenerationRequest> requests;
  for (const auto& prompt : prompts) {
    requests.push_back({prompt, 24, {}});  // greedy
    for (uint64_t draw = 0; draw < 2; ++draw) {
      requests.push_back({prompt, 12 + 8 * static_cast<int>(draw), {0.8f, 0, 0.95f, 7 + draw}});
    }
  }
  const std::vector<std::string_view> stops(kHumanEvalStopSequences.begin(), kHumanEvalStopSequences.end());
  OneAtATime alone(*engine);
  auto expected = GenerateUntilBatch(alone, requests, stops);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();

  // The budget that gives exactly two slots (engine/batch_memory.h GenerationSlots).
  const ModelBlueprint& blueprint = engine->blueprint();
  int64_t capacity = 0, longest = 0;
  for (const GenerationRequest& r : requests) {
    capacity = std::max<int64_t>(capacity, static_cast<int64_t>(r.prompt.size()) + r.max_new_tokens - 1);
    longest = std::max<int64_t>(longest, static_cast<int64_t>(r.prompt.size()));
  }
  const int64_t per_row = 4 * blueprint.ActivationFloatsPerRow();
  const int64_t two_slots =
      longest * per_row + 2 * (blueprint.KvCacheBytes(capacity) + per_row + 4 * int64_t{blueprint.config().vocab_size});
  ASSERT_EQ(GenerationSlots(blueprint, two_slots, capacity, longest, static_cast<int64_t>(requests.size())), 2);
  ASSERT_EQ(GenerationSlots(blueprint, two_slots - 1, capacity, longest, static_cast<int64_t>(requests.size())), 1);

  for (const int64_t budget : {int64_t{0}, two_slots}) {
    auto batched_engine = OpenStories("bf16", budget);
    ASSERT_NE(batched_engine, nullptr);
    auto batched = GenerateUntilBatch(*batched_engine, requests, stops);
    ASSERT_TRUE(batched.ok()) << batched.status().ToString();
    ASSERT_EQ(batched->size(), expected->size());
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ((*batched)[i].tokens, (*expected)[i].tokens) << "budget " << budget << " request " << i;
      EXPECT_EQ((*batched)[i].text, (*expected)[i].text) << "budget " << budget << " request " << i;
      EXPECT_EQ((*batched)[i].finish, (*expected)[i].finish) << "budget " << budget << " request " << i;
    }
    EXPECT_EQ(batched_engine->TokensProcessed().generated, engine->TokensProcessed().generated);
  }
  // Requests end at different lengths, so slots free up at different steps.
  std::set<size_t> lengths;
  for (const GenerationResult& r : *expected) lengths.insert(r.tokens.size());
  EXPECT_GT(lengths.size(), 1u);
}

TEST(BatchedTasks, GenerateBatchNamesTheBadRequest) {
  auto engine = OpenStories();
  ASSERT_NE(engine, nullptr);
  const std::vector<TokenId> ok = {1, 5}, too_long(static_cast<size_t>(engine->MaxContext()), 5);
  const std::vector<GenerationRequest> requests = {{ok, 4, {}}, {too_long, 4, {}}};
  auto out = engine->GenerateBatch(requests, nullptr);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("request 1 of a batch"), std::string::npos) << out.status().ToString();
}

}  // namespace
}  // namespace fp4lab
