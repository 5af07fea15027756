#include "tasks/mmlu_task.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tasks/fake_language_model.h"
#include "tasks/mmlu_prompt.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::FakeLanguageModel;
using testing::FakeModelOptions;

// Byte tokens of the fake model (vocab >= 259): byte b -> 3 + b.
TokenId Tok(char c) { return 3 + static_cast<TokenId>(static_cast<unsigned char>(c)); }

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

constexpr char kAlgebraTest[] =
    "Which element is first?,w,x,y,z,C\n"
    "Which element of the group is the identity under this operation?,w,x,y,z,A\n"
    "Pick one?,w,x,y,z,C\n";
constexpr char kReligionsTest[] =
    "Short?,p,q,r,s,B\n"
    "This question is much longer than the first one in this file?,p,q,r,s,D\n";

std::string DevRows() {
  std::string rows;
  for (int i = 0; i < 5; ++i) rows += "Dev question " + std::to_string(i) + "?,a,b,c,d," + "ABCD"[i % 4] + "\n";
  return rows;
}

// A small MMLU release tree: test and dev files for abstract_algebra and world_religions.
std::string MakeMmluDir(const std::string& name) {
  const std::filesystem::path dir = testing::TempDir(name);
  WriteFile(dir / "test" / "abstract_algebra_test.csv", kAlgebraTest);
  WriteFile(dir / "test" / "world_religions_test.csv", kReligionsTest);
  WriteFile(dir / "dev" / "abstract_algebra_dev.csv", DevRows());
  WriteFile(dir / "dev" / "world_religions_dev.csv", DevRows());
  return dir.string();
}

MmluOptions Mmlu(const std::string& dir, std::vector<std::string> subjects = {}, int shots = 0, int limit = 0,
                 const std::string& split = "test") {
  MmluOptions options;
  options.data_dir = dir;
  options.split = split;
  options.subjects = std::move(subjects);
  options.shots = shots;
  options.limit = limit;
  return options;
}

using RowFunction = std::function<void(std::span<const TokenId>, std::span<float>)>;

FakeModelOptions ModelOptions(int max_context, int vocab_size = 259, uint64_t seed = 0,
                              RowFunction row_function = nullptr) {
  FakeModelOptions options;
  options.max_context = max_context;
  options.vocab_size = vocab_size;
  options.seed = seed;
  options.row_function = std::move(row_function);
  return options;
}

std::unique_ptr<MmluTask> CreateTask(MmluOptions options) {
  auto task = MmluTask::Create(std::move(options));
  EXPECT_TRUE(task.ok()) << task.status().ToString();
  return task.ok() ? std::move(task).value() : nullptr;
}

// Runs `task` on `model`, evaluating the items `accept` lets through, and returns the emitted samples.
std::vector<SampleRecord> RunTask(Task& task, LanguageModel& model, bool log_samples = false,
                                  std::function<bool(const std::string&)> accept = nullptr) {
  std::vector<SampleRecord> samples;
  const auto emit = [&](std::vector<SampleRecord>&& batch) {
    for (SampleRecord& s : batch) {
      s.precision = "bf16";
      samples.push_back(std::move(s));
    }
    return Status::Ok();
  };
  const auto all = [](const std::string&) { return true; };
  TaskRun run{model, "bf16", false, accept ? accept : all, emit, nullptr, log_samples};
  const Status status = task.Run(run);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return samples;
}

std::map<std::string, MetricRecord> ByName(const std::vector<MetricRecord>& metrics) {
  std::map<std::string, MetricRecord> by_name;
  for (const MetricRecord& m : metrics) by_name[m.metric] = m;
  return by_name;
}

// A tokenizer that merges " A".." D" into single tokens 259..262 and is bytewise otherwise (a sentencepiece
// tokenizer treats "▁A" the same way).
class MergingModel : public FakeLanguageModel {
 public:
  using FakeLanguageModel::FakeLanguageModel;
  Result<std::vector<TokenId>> Encode(std::string_view text) const override {
    std::vector<TokenId> tokens;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == ' ' && i + 1 < text.size() && text[i + 1] >= 'A' && text[i + 1] <= 'D') {
        tokens.push_back(259 + (text[i + 1] - 'A'));
        ++i;
      } else {
        tokens.push_back(Tok(text[i]));
      }
    }
    return tokens;
  }
};

TEST(EncodePairTest, SplitsTheWholeEncodingAtTheContextLength) {
  MergingModel model(ModelOptions(64, 263));
  const auto pair = EncodePair(model, "Answer:", " B");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->context, *model.Encode("Answer:"));
  EXPECT_EQ(pair->continuation, std::vector<TokenId>{260});
}

TEST(EncodePairTest, MovesTrailingContextWhitespaceToTheContinuation) {
  MergingModel model(ModelOptions(64, 263));
  // lm-eval: context "Answer: " + "C" becomes "Answer:" + " C", so the merged token is scored.
  const auto pair = EncodePair(model, "Answer: ", "C");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->context, *model.Encode("Answer:"));
  EXPECT_EQ(pair->continuation, std::vector<TokenId>{261});
  // Python's rstrip also strips Unicode whitespace (U+00A0 NO-BREAK SPACE here).
  FakeLanguageModel bytes;
  const auto nbsp = EncodePair(bytes, "Q:\xC2\xA0\n", "x");
  ASSERT_TRUE(nbsp.ok());
  EXPECT_EQ(nbsp->context, (std::vector<TokenId>{Tok('Q'), Tok(':')}));
  EXPECT_EQ(nbsp->continuation, (std::vector<TokenId>{Tok('\xC2'), Tok('\xA0'), Tok('\n'), Tok('x')}));
}

TEST(MmluTaskTest, PicksTheLetterWithTheHighestContinuationLogProb) {
  const std::string dir = MakeMmluDir("mmlu_argmax");
  auto task = CreateTask(Mmlu(dir, {"abstract_algebra"}));
  ASSERT_NE(task, nullptr);
  // Uniform rows except after a space, where the row favours 'C' by 5 nats. " X" is two byte tokens, so
  // logprob(" X") = ln p(' ' | context) + ln p(X | context + ' ') = -ln 259 + (l_X - ln(258 + e^5)).
  FakeLanguageModel model(ModelOptions(4096, 259, 0, [](auto prefix, auto row) {
    std::fill(row.begin(), row.end(), 0.0f);
    if (prefix.back() == Tok(' ')) row[Tok('C')] = 5.0f;
  }));
  const std::vector<SampleRecord> samples = RunTask(*task, model);
  ASSERT_EQ(samples.size(), 3u);
  const double other = -std::log(259.0) - std::log(258.0 + std::exp(5.0));
  const std::vector<int> golds = {2, 0, 2};
  for (size_t i = 0; i < samples.size(); ++i) {
    const SampleRecord& s = samples[i];
    EXPECT_EQ(s.sample_id, "abstract_algebra/" + std::to_string(i));
    EXPECT_EQ(s.data["pred"], 2);
    EXPECT_EQ(s.data["gold"], golds[i]);
    EXPECT_EQ(s.score, golds[i] == 2 ? 1.0 : 0.0);
    EXPECT_EQ(s.outcome, golds[i] == 2 ? "correct" : "wrong");
    EXPECT_EQ(s.data["subject"], "abstract_algebra");
    EXPECT_EQ(s.data["category"], "stem");
    EXPECT_EQ(s.data["truncated"], false);
    // Double arithmetic on float-exact logits: agreement to ~1e-14; 1e-9 leaves ample room.
    for (int letter = 0; letter < 4; ++letter) {
      EXPECT_NEAR(s.data["logprobs"][letter].get<double>(), letter == 2 ? other + 5.0 : other, 1e-9);
    }
  }
  // Every forward starts with BOS.
  for (const auto& input : model.forwards()) EXPECT_EQ(input.front(), model.BosId());
}

TEST(MmluTaskTest, OneTokenContinuationsShareOneForwardPass) {
  const std::string dir = MakeMmluDir("mmlu_single_token");
  auto task = CreateTask(Mmlu(dir, {"world_religions"}));
  ASSERT_NE(task, nullptr);
  const std::vector<float> letter_logits = {0.5f, 2.0f, -1.0f, 1.0f};
  MergingModel model(ModelOptions(4096, 263, 0, [&](auto, auto row) {
    std::fill(row.begin(), row.end(), 0.0f);
    for (int i = 0; i < 4; ++i) row[259 + i] = letter_logits[i];
  }));
  const std::vector<SampleRecord> samples = RunTask(*task, model, /*log_samples=*/true);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(model.forwards().size(), 2u);  // one per item, not one per letter
  double sum = 259.0;                      // the 259 zero logits
  for (float l : letter_logits) sum += std::exp(static_cast<double>(l));
  for (const SampleRecord& s : samples) {
    EXPECT_EQ(s.data["pred"], 1);
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(s.data["logprobs"][i].get<double>(), letter_logits[i] - std::log(sum), 1e-9);
    }
  }
  EXPECT_EQ(samples[0].score, 1.0);  // gold B
  EXPECT_EQ(samples[1].score, 0.0);  // gold D
  // The forward reads BOS + the encoded context, nothing of the continuation (forwards run longest first, so look
  // it up rather than assume its place).
  std::vector<TokenId> expected_input = *model.Encode(samples[0].prompt_text);
  expected_input.insert(expected_input.begin(), model.BosId());
  EXPECT_NE(std::find(model.forwards().begin(), model.forwards().end(), expected_input), model.forwards().end());
  EXPECT_EQ(samples[0].data["context_tokens"], expected_input.size());
}

TEST(MmluTaskTest, TruncatesLongContextsFromTheLeftAndCountsThem) {
  const std::string dir = MakeMmluDir("mmlu_truncation");
  const auto rows = ParseMmluCsv(kReligionsTest, "religions");
  ASSERT_TRUE(rows.ok());
  const auto short_prompt = BuildMmluPrompt("world_religions", {}, 0, (*rows)[0]);
  ASSERT_TRUE(short_prompt.ok());
  // Byte tokens: the short item's context is BOS + its bytes; with max_context = that + 1 the model reads
  // context + " X"[:-1] = context + 1 tokens without dropping any, while the longer item must drop some.
  const int short_context = 1 + static_cast<int>(short_prompt->context.size());
  const int max_context = short_context + 1;
  auto task = CreateTask(Mmlu(dir, {"world_religions"}));
  ASSERT_NE(task, nullptr);
  FakeLanguageModel model(ModelOptions(max_context));
  const std::vector<SampleRecord> samples = RunTask(*task, model);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].data["truncated"], false);
  EXPECT_EQ(samples[1].data["truncated"], true);
  EXPECT_GT(samples[1].data["context_tokens"].get<int>(), short_context);
  // 4 two-token continuations " A".." D" per item: their inputs context + " " are identical, so each item's four
  // share one forward, as lm-eval's grouping by context + continuation[:-1] does.
  ASSERT_EQ(model.forwards().size(), 2u);
  for (size_t f = 0; f < model.forwards().size(); ++f) {
    EXPECT_EQ(static_cast<int>(model.forwards()[f].size()), max_context) << "forward " << f;
  }
  const auto metrics = task->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  const auto by_name = ByName(*metrics);
  EXPECT_EQ(by_name.at("truncated").value, 1.0);
  EXPECT_EQ(by_name.at("truncated").n, 2);
}

SampleRecord Stored(const std::string& subject, int row, double score, bool truncated = false) {
  SampleRecord s;
  s.task = "mmlu";
  s.precision = "nvfp4";
  s.sample_id = subject + "/" + std::to_string(row);
  s.score = score;
  s.data = {{"truncated", truncated}};
  return s;
}

TEST(MmluTaskTest, AggregatesMicroMacroSubjectAndCategoryAccuracy) {
  auto task = CreateTask(Mmlu(MakeMmluDir("mmlu_aggregate")));
  ASSERT_NE(task, nullptr);
  // abstract_algebra (stem) 1,1,0,0; college_computer_science (stem) 1,1,1; world_religions (humanities) 0,1,0.
  std::vector<SampleRecord> samples = {
      Stored("abstract_algebra", 0, 1, true), Stored("abstract_algebra", 1, 1), Stored("abstract_algebra", 2, 0),
      Stored("abstract_algebra", 3, 0),       Stored("college_computer_science", 0, 1),
      Stored("college_computer_science", 1, 1), Stored("college_computer_science", 2, 1, true),
      Stored("world_religions", 0, 0),        Stored("world_religions", 1, 1), Stored("world_religions", 2, 0)};
  std::reverse(samples.begin(), samples.end());  // store order must not matter
  const auto metrics = task->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  const auto m = ByName(*metrics);
  // Micro: 6 of 10; stderr = sqrt(sample variance / n) with sample variance 10 * 0.6 * 0.4 / 9.
  EXPECT_DOUBLE_EQ(m.at("acc").value, 0.6);
  EXPECT_EQ(m.at("acc").n, 10);
  EXPECT_EQ(m.at("acc").higher_is, "better");
  EXPECT_NEAR(*m.at("acc").stderr_value, std::sqrt(10 * 0.6 * 0.4 / 9 / 10), 1e-12);
  // Macro: (1/2 + 1 + 1/3) / 3.
  EXPECT_NEAR(m.at("acc_macro").value, 11.0 / 18.0, 1e-12);
  EXPECT_EQ(m.at("acc_macro").n, 3);
  EXPECT_DOUBLE_EQ(m.at("acc/abstract_algebra").value, 0.5);
  EXPECT_NEAR(*m.at("acc/abstract_algebra").stderr_value, std::sqrt(1.0 / 3.0 / 4.0), 1e-12);
  EXPECT_DOUBLE_EQ(m.at("acc/college_computer_science").value, 1.0);
  EXPECT_NEAR(m.at("acc/world_religions").value, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(*m.at("acc/world_religions").stderr_value, 1.0 / 3.0, 1e-12);
  // Categories, size-weighted: stem 5 of 7, humanities 1 of 3. Pooled variance = within-subject sum of squares /
  // (N - k): stem (4 * 0.25 + 0) / (7 - 2), humanities (2/9 + 4/9) / (3 - 1); stderr = sqrt(pooled / N).
  EXPECT_NEAR(m.at("acc_cat/stem").value, 5.0 / 7.0, 1e-12);
  EXPECT_EQ(m.at("acc_cat/stem").n, 7);
  EXPECT_NEAR(*m.at("acc_cat/stem").stderr_value, std::sqrt(1.0 / 5.0 / 7.0), 1e-12);
  EXPECT_NEAR(m.at("acc_cat/humanities").value, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(*m.at("acc_cat/humanities").stderr_value, std::sqrt((6.0 / 9.0) / 2.0 / 3.0), 1e-12);
  EXPECT_EQ(m.count("acc_cat/other"), 0u);
  EXPECT_EQ(m.at("n").value, 10.0);
  EXPECT_EQ(m.at("truncated").value, 2.0);
}

TEST(MmluTaskTest, AggregateRejectsMalformedSamples) {
  auto task = CreateTask(Mmlu(MakeMmluDir("mmlu_bad_samples")));
  ASSERT_NE(task, nullptr);
  const auto expect_error = [&](std::vector<SampleRecord> samples, const std::string& fragment) {
    const auto result = task->Aggregate(samples);
    ASSERT_FALSE(result.ok()) << fragment;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status().message();
  };
  expect_error({}, "no samples");
  expect_error({Stored("astrology", 0, 1)}, "astrology");
  SampleRecord no_row = Stored("anatomy", 0, 1);
  no_row.sample_id = "anatomy/x";
  expect_error({no_row}, "anatomy/x");
  expect_error({Stored("anatomy", 0, 1), Stored("anatomy", 0, 0)}, "occurs twice");
  expect_error({Stored("anatomy", 0, 0.5)}, "expected 0 or 1");
  SampleRecord no_flag = Stored("anatomy", 1, 1);
  no_flag.data = nlohmann::json::object();
  expect_error({no_flag}, "truncated");
}

TEST(MmluTaskTest, ResumedRunsGiveTheSameSamplesAndMetrics) {
  auto task = CreateTask(Mmlu(MakeMmluDir("mmlu_resume"), {}, 2));
  ASSERT_NE(task, nullptr);
  FakeLanguageModel full_model(ModelOptions(4096, 259, 7));
  const std::vector<SampleRecord> full = RunTask(*task, full_model);
  ASSERT_EQ(full.size(), 5u);
  FakeLanguageModel part_model(ModelOptions(4096, 259, 7));
  std::vector<SampleRecord> parts =
      RunTask(*task, part_model, false, [](const std::string& id) { return id.ends_with("/1"); });
  ASSERT_EQ(parts.size(), 2u);
  const std::vector<SampleRecord> rest =
      RunTask(*task, part_model, false, [](const std::string& id) { return !id.ends_with("/1"); });
  parts.insert(parts.end(), rest.begin(), rest.end());
  std::map<std::string, const SampleRecord*> by_id;
  for (const SampleRecord& s : parts) by_id[s.sample_id] = &s;
  for (const SampleRecord& s : full) {
    ASSERT_EQ(by_id.count(s.sample_id), 1u) << s.sample_id;
    EXPECT_EQ(by_id[s.sample_id]->data, s.data);
    EXPECT_EQ(by_id[s.sample_id]->prompt_sha256, s.prompt_sha256);
  }
  const auto a = task->Aggregate(full);
  const auto b = task->Aggregate(parts);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].metric, (*b)[i].metric);
    EXPECT_EQ((*a)[i].value, (*b)[i].value) << (*a)[i].metric;
    EXPECT_EQ((*a)[i].stderr_value, (*b)[i].stderr_value) << (*a)[i].metric;
  }
  // A run compared with itself: no flips.
  const auto compared = task->Compare(parts, full);
  ASSERT_TRUE(compared.ok()) << compared.status().ToString();
  ASSERT_EQ(compared->size(), 1u);
  EXPECT_EQ(compared->front().metric, "acc");
  EXPECT_EQ(compared->front().delta, 0.0);
  EXPECT_EQ(compared->front().p_value, 1.0);
}

TEST(MmluTaskTest, BundledDataFiveShotPromptsMatchTheLmEvalTemplate) {
  MmluOptions options;
  options.data_dir = testing::SourcePath("datasets/mmlu");
  options.shots = 5;
  options.limit = 1;
  auto task = CreateTask(options);
  ASSERT_NE(task, nullptr);
  const nlohmann::json config = task->Config();
  EXPECT_EQ(config["subjects"],
            nlohmann::json({"abstract_algebra", "college_computer_science", "world_religions"}));
  EXPECT_EQ(config["shots"], 5);
  EXPECT_EQ(config["bos"], true);
  EXPECT_EQ(task->DatasetSha256().size(), 64u);
  FakeLanguageModel model(ModelOptions(8192));
  const std::vector<SampleRecord> samples = RunTask(*task, model, /*log_samples=*/true);
  ASSERT_EQ(samples.size(), 3u);
  for (const SampleRecord& s : samples) {
    const std::string subject = s.data["subject"];
    EXPECT_EQ(s.sample_id, subject + "/0");
    const auto dev = LoadMmluSubject(options.data_dir, MmluSplit::kDev, subject);
    const auto test = LoadMmluSubject(options.data_dir, MmluSplit::kTest, subject);
    ASSERT_TRUE(dev.ok() && test.ok());
    const auto prompt = BuildMmluPrompt(subject, *dev, 5, (*test)[0]);
    ASSERT_TRUE(prompt.ok());
    EXPECT_EQ(s.prompt_text, prompt->context);
    EXPECT_EQ(s.output_text, prompt->continuations[s.data["pred"].get<size_t>()]);
    EXPECT_EQ(s.data["gold"], (*test)[0].answer);
  }
  // The 0-shot task reads fewer files, so its dataset hash differs.
  options.shots = 0;
  auto zero_shot = CreateTask(options);
  ASSERT_NE(zero_shot, nullptr);
  EXPECT_NE(zero_shot->DatasetSha256(), task->DatasetSha256());
}

TEST(MmluTaskTest, CreateRejectsBadOptions) {
  const std::string dir = MakeMmluDir("mmlu_bad_options");
  const auto too_many_shots = MmluTask::Create(Mmlu(dir, {}, 6));
  ASSERT_FALSE(too_many_shots.ok());
  EXPECT_EQ(too_many_shots.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_many_shots.status().message().find("abstract_algebra_dev.csv"), std::string::npos)
      << too_many_shots.status().message();
  const auto unknown = MmluTask::Create(Mmlu(dir, {"astrology"}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  const auto missing = MmluTask::Create(Mmlu(dir, {"anatomy"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("anatomy_test.csv"), std::string::npos) << missing.status().message();
  EXPECT_FALSE(MmluTask::Create(Mmlu(dir, {}, 0, 0, "train")).ok());
  EXPECT_FALSE(MmluTask::Create(Mmlu(dir, {"world_religions", "world_religions"})).ok());
  EXPECT_FALSE(MmluTask::Create(Mmlu(dir, {}, -1)).ok());
  EXPECT_FALSE(MmluTask::Create(Mmlu(dir, {}, 0, -1)).ok());
  const auto limited = MmluTask::Create(Mmlu(dir, {}, 0, 1));
  ASSERT_TRUE(limited.ok());
  FakeLanguageModel model(ModelOptions(4096));
  EXPECT_EQ(RunTask(**limited, model).size(), 2u);  // one row of each subject
}

}  // namespace
}  // namespace fp4lab
