#include "tasks/mmlu_generative.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "tasks/causal_only.h"     // MinGenerationRoom
#include "tasks/humaneval_task.h"  // GenerateUntilBatch
#include "tasks/lm_requests.h"     // TokensSha256
#include "tasks/mmlu_aggregate.h"
#include "tasks/paired_accuracy.h"

namespace fp4lab {
namespace {

constexpr std::string_view kTask = "mmlu_generative";
constexpr size_t kBatchItems = 32;  // samples stored per transaction
constexpr std::string_view kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";  // Python's string.punctuation

}  // namespace

std::string MmluGenerativeResponse(std::string_view generation) {
  return std::string(PythonStrip(generation.substr(0, generation.find('\n'))));
}

char MmluGenerativeLetter(std::string_view response) {
  std::string normalized;
  for (char c : response) {
    if (kPunctuation.find(c) != std::string_view::npos) continue;
    normalized.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (normalized.size() != 1 || normalized[0] < 'a' || normalized[0] > 'd') return '\0';
  return static_cast<char>(normalized[0] - 'a' + 'A');
}

Result<std::unique_ptr<MmluGenerativeTask>> MmluGenerativeTask::Create(MmluGenerativeOptions options) {
  if (options.max_new_tokens < 1) {
    return Status::InvalidArgument("mmlu_generative: max_new_tokens must be >= 1, got " +
                                   std::to_string(options.max_new_tokens));
  }
  FP4LAB_ASSIGN_OR_RETURN(MmluData data, LoadMmluData(options.mmlu, kTask));
  options.mmlu.subjects = data.subject_names;
  return std::unique_ptr<MmluGenerativeTask>(new MmluGenerativeTask(std::move(options), std::move(data)));
}

nlohmann::json MmluGenerativeTask::Config() const {
  const MmluOptions& mmlu = options_.mmlu;
  nlohmann::json config = {
      {"data_dir", mmlu.data_dir},
      {"split", mmlu.split},
      {"subjects", mmlu.subjects},
      {"shots", mmlu.shots},
      {"limit", mmlu.limit},
      {"max_new_tokens", options_.max_new_tokens},
      {"until", std::vector<std::string>(kMmluGenerativeUntil.begin(), kMmluGenerativeUntil.end())},
      {"convention",
       "lm-eval mmlu_generative v3: mmlu prompt, greedy generate_until, get_response filter (first line, stripped), "
       "exact_match ignore_case ignore_punctuation against the gold letter"}};
  config["bos"] = mmlu.chat.chat_template == nullptr ? nlohmann::json(true)
                                                     : nlohmann::json("unless the context starts with bos_token");
  config.update(mmlu.chat.ToJson());
  return config;
}

Status MmluGenerativeTask::Preflight(const LanguageModel& model, const LanguageModel* reference) const {
  (void)reference;
  if (model.MaxContext() <= options_.max_new_tokens) {
    return Status::InvalidArgument("mmlu_generative: max_new_tokens " + std::to_string(options_.max_new_tokens) +
                                   " leaves no room for a prompt in the model's context of " +
                                   std::to_string(model.MaxContext()) + " tokens (lower max_new_tokens)");
  }
  return Status::Ok();
}

Result<MmluGenerativeTask::PreparedItem> MmluGenerativeTask::PrepareItem(const LanguageModel& model,
                                                                         const MmluSubjectRows& subject,
                                                                         size_t row) const {
  PreparedItem item;
  item.id = MmluItemId(subject.name, row);
  item.subject = &subject;
  const MmluOptions& mmlu = options_.mmlu;
  FP4LAB_ASSIGN_OR_RETURN(item.prompt,
                          BuildMmluPrompt(subject.name, subject.dev, mmlu.shots, subject.items[row], mmlu.chat));
  FP4LAB_ASSIGN_OR_RETURN(item.context, model.Encode(item.prompt.context));
  if (PrependBos(item.prompt.context, mmlu.chat)) item.context.insert(item.context.begin(), model.BosId());
  const int reserved = std::max(options_.max_new_tokens, MinGenerationRoom(model));
  const size_t room = static_cast<size_t>(model.MaxContext() - reserved);
  const size_t drop = item.context.size() > room ? item.context.size() - room : 0;
  item.input.assign(item.context.begin() + static_cast<std::ptrdiff_t>(drop), item.context.end());
  return item;
}

SampleRecord MmluGenerativeTask::FinishItem(const PreparedItem& item, const GenerationResult& generation,
                                            bool log_samples) const {
  const std::string response = MmluGenerativeResponse(generation.text);
  const char letter = MmluGenerativeLetter(response);
  const bool correct = letter == static_cast<char>('A' + item.prompt.gold);
  SampleRecord sample;
  sample.sample_id = item.id;
  sample.score = correct ? 1.0 : 0.0;
  sample.outcome = correct ? "correct" : "wrong";
  sample.prompt_sha256 = TokensSha256(item.context);
  sample.data = {{"response", response},
                 {"pred", letter == '\0' ? std::string() : std::string(1, letter)},
                 {"gold", item.prompt.gold},
                 {"subject", item.subject->name},
                 {"category", item.subject->category},
                 {"truncated", item.input.size() < item.context.size()},
                 {"context_tokens", item.context.size()},
                 {"completion_tokens", generation.tokens.size()},
                 {"finish", generation.finish}};
  if (log_samples) {
    sample.prompt_text = item.prompt.context;
    sample.output_text = generation.text;
  }
  return sample;
}

Status MmluGenerativeTask::Run(TaskRun& run) {
  FP4LAB_RETURN_IF_ERROR(Preflight(run.model, nullptr));  // room for a prompt beside max_new_tokens
  std::vector<std::pair<size_t, size_t>> pending;  // (subject index, row)
  for (size_t s = 0; s < data_.subjects.size(); ++s) {
    for (size_t row = 0; row < data_.subjects[s].items.size(); ++row) {
      if (run.should_run(MmluItemId(data_.subjects[s].name, row))) pending.emplace_back(s, row);
    }
  }
  const std::vector<std::string_view> until(kMmluGenerativeUntil.begin(), kMmluGenerativeUntil.end());
  const int64_t total = static_cast<int64_t>(pending.size());
  for (size_t start = 0; start < pending.size(); start += kBatchItems) {
    const size_t end = std::min(pending.size(), start + kBatchItems);
    std::vector<PreparedItem> items;
    std::vector<GenerationRequest> requests;
    for (size_t k = start; k < end; ++k) {
      const auto [subject, row] = pending[k];
      FP4LAB_ASSIGN_OR_RETURN(PreparedItem item, PrepareItem(run.model, data_.subjects[subject], row));
      items.push_back(std::move(item));
    }
    for (const PreparedItem& item : items) {
      requests.push_back({item.input, options_.max_new_tokens, SamplingOptions{}});  // greedy
    }
    auto generations = GenerateUntilBatch(run.model, requests, until);
    if (!generations.ok()) {
      return generations.status().WithContext("mmlu_generative: items " + items.front().id + " .. " +
                                              items.back().id);
    }
    std::vector<SampleRecord> batch;
    for (size_t k = 0; k < items.size(); ++k) {
      batch.push_back(FinishItem(items[k], (*generations)[k], run.log_samples));
    }
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(static_cast<int64_t>(end), total);
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> MmluGenerativeTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<MetricRecord> metrics, AggregateMmluSamples(kTask, "exact_match", samples));
  int64_t no_letter = 0;
  for (const SampleRecord& sample : samples) {
    const auto pred = sample.data.find("pred");
    if (pred == sample.data.end() || !pred->is_string()) {
      return Status::InvalidArgument("mmlu_generative: sample '" + sample.sample_id +
                                     "': data field 'pred' is missing or not a string");
    }
    if (pred->get<std::string>().empty()) ++no_letter;
  }
  const int64_t n = static_cast<int64_t>(samples.size());
  metrics.push_back(
      MakeMetric(kTask, samples.front().precision, "no_letter", static_cast<double>(no_letter), n, "items", ""));
  return metrics;
}

Result<std::vector<ComparisonRecord>> MmluGenerativeTask::Compare(const std::vector<SampleRecord>& candidate,
                                                                  const std::vector<SampleRecord>& reference) const {
  return ComparePairedAccuracy(kTask, "exact_match", candidate, reference);
}

}  // namespace fp4lab
