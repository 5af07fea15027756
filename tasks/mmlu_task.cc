#include "tasks/mmlu_task.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "tasks/causal_only.h"
#include "tasks/lm_requests.h"
#include "tasks/mmlu_aggregate.h"
#include "tasks/mmlu_prompt.h"
#include "tasks/paired_accuracy.h"

namespace fp4lab {
namespace {

constexpr std::string_view kTask = "mmlu";
constexpr size_t kBatchItems = 32;  // samples stored per transaction

}  // namespace

Result<EncodedPair> EncodePair(const LanguageModel& model, std::string_view context, std::string_view continuation) {
  // Python's context.rstrip(): the whitespace it removes belongs to the continuation. The whole string is unchanged.
  const std::string_view stripped = PythonStrip(context);
  const size_t kept = stripped.empty() ? 0 : static_cast<size_t>(stripped.data() - context.data()) + stripped.size();
  std::string whole(context);
  whole += continuation;
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<TokenId> whole_enc, model.Encode(whole));
  EncodedPair pair;
  FP4LAB_ASSIGN_OR_RETURN(pair.context, model.Encode(context.substr(0, kept)));
  const size_t split = std::min(pair.context.size(), whole_enc.size());
  pair.continuation.assign(whole_enc.begin() + static_cast<std::ptrdiff_t>(split), whole_enc.end());
  return pair;
}

Result<std::unique_ptr<MmluTask>> MmluTask::Create(MmluOptions options) {
  FP4LAB_ASSIGN_OR_RETURN(MmluData data, LoadMmluData(options, kTask));
  options.subjects = data.subject_names;
  return std::unique_ptr<MmluTask>(new MmluTask(std::move(options), std::move(data)));
}

nlohmann::json MmluTask::Config() const {
  nlohmann::json config = {{"data_dir", options_.data_dir},
                           {"split", options_.split},
                           {"subjects", options_.subjects},
                           {"shots", options_.shots},
                           {"limit", options_.limit},
                           {"tokenization", "lm-eval _encode_pair"}};
  config["bos"] = options_.chat.chat_template == nullptr ? nlohmann::json(true)
                                                         : nlohmann::json("unless the context starts with bos_token");
  config.update(options_.chat.ToJson());
  return config;
}

Result<MmluTask::PreparedItem> MmluTask::PrepareItem(const LanguageModel& model, const MmluSubjectRows& subject,
                                                     size_t row) const {
  PreparedItem item;
  item.id = MmluItemId(subject.name, row);
  const MmluQuestion& question = subject.items[row];
  FP4LAB_ASSIGN_OR_RETURN(item.prompt,
                          BuildMmluPrompt(subject.name, subject.dev, options_.shots, question, options_.chat));
  for (size_t i = 0; i < 4; ++i) {
    FP4LAB_ASSIGN_OR_RETURN(EncodedPair pair, EncodePair(model, item.prompt.context, item.prompt.continuations[i]));
    if (pair.continuation.empty()) {
      return Status::InvalidArgument("mmlu: item '" + item.id + "': continuation '" + item.prompt.continuations[i] +
                                     "' encodes to no tokens after the context");
    }
    if (i == 0) {
      item.context = std::move(pair.context);
      if (PrependBos(item.prompt.context, options_.chat)) item.context.insert(item.context.begin(), model.BosId());
    }
    item.continuations[i] = std::move(pair.continuation);
  }
  for (const std::vector<TokenId>& continuation : item.continuations) {
    const Result<int> drop = LeadingTokensToDrop(static_cast<int>(item.context.size()),
                                                 static_cast<int>(continuation.size()), model.MaxContext());
    if (!drop.ok()) return drop.status().WithContext("mmlu: item '" + item.id + "'");
    item.truncated = item.truncated || *drop > 0;
  }
  return item;
}

SampleRecord MmluTask::FinishItem(const MmluSubjectRows& subject, const PreparedItem& item,
                                  const std::array<double, 4>& logprobs, bool log_samples) const {
  int pred = 0;
  for (int i = 1; i < 4; ++i) {
    if (logprobs[i] > logprobs[pred]) pred = i;
  }
  SampleRecord sample;
  sample.sample_id = item.id;
  sample.score = pred == item.prompt.gold ? 1.0 : 0.0;
  sample.outcome = pred == item.prompt.gold ? "correct" : "wrong";
  sample.prompt_sha256 = TokensSha256(item.context);
  sample.data = {{"pred", pred},
                 {"gold", item.prompt.gold},
                 {"logprobs", logprobs},
                 {"subject", subject.name},
                 {"category", subject.category},
                 {"truncated", item.truncated},
                 {"context_tokens", item.context.size()}};
  if (log_samples) {
    sample.prompt_text = item.prompt.context;
    sample.output_text = item.prompt.continuations[static_cast<size_t>(pred)];
  }
  return sample;
}

// Items are scored kBatchItems at a time: the four continuations of every item of a batch go to the model as one
// LogLikelihoodBatch (tasks/lm_requests.h), where continuations with the same forward input share one forward, as
// lm-eval groups requests by context (the four one-token letters of a question: one forward over its context), and
// the forwards are packed into multi-sequence passes by the engine. The numbers equal one LogLikelihood call per
// continuation.
Status MmluTask::Run(TaskRun& run) {
  std::vector<std::pair<size_t, size_t>> pending;  // (subject index, row)
  for (size_t s = 0; s < data_.subjects.size(); ++s) {
    for (size_t row = 0; row < data_.subjects[s].items.size(); ++row) {
      if (run.should_run(MmluItemId(data_.subjects[s].name, row))) pending.emplace_back(s, row);
    }
  }
  const int64_t total = static_cast<int64_t>(pending.size());
  for (size_t start = 0; start < pending.size(); start += kBatchItems) {
    const size_t end = std::min(pending.size(), start + kBatchItems);
    std::vector<PreparedItem> items;
    for (size_t k = start; k < end; ++k) {
      const auto [subject, row] = pending[k];
      FP4LAB_ASSIGN_OR_RETURN(PreparedItem item, PrepareItem(run.model, data_.subjects[subject], row));
      items.push_back(std::move(item));
    }
    std::vector<LogLikelihoodRequest> requests;
    for (const PreparedItem& item : items) {
      for (const std::vector<TokenId>& continuation : item.continuations) requests.push_back({item.context, continuation});
    }
    auto scores = LogLikelihoodBatch(run.model, requests);
    if (!scores.ok()) {
      return scores.status().WithContext("mmlu: items " + items.front().id + " .. " + items.back().id);
    }
    std::vector<SampleRecord> batch;
    for (size_t k = 0; k < items.size(); ++k) {
      std::array<double, 4> logprobs{};
      for (size_t i = 0; i < 4; ++i) logprobs[i] = (*scores)[4 * k + i].logprob;
      batch.push_back(FinishItem(data_.subjects[pending[start + k].first], items[k], logprobs, run.log_samples));
    }
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(static_cast<int64_t>(end), total);
  }
  return Status::Ok();
}

Status MmluTask::Preflight(const LanguageModel& model, const LanguageModel* reference) const {
  (void)reference;
  return RefuseBlockDiffusionModel(model, kTask, "mmlu_generative");
}

Result<std::vector<MetricRecord>> MmluTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  return AggregateMmluSamples(kTask, "acc", samples);
}

Result<std::vector<ComparisonRecord>> MmluTask::Compare(const std::vector<SampleRecord>& candidate,
                                                        const std::vector<SampleRecord>& reference) const {
  return ComparePairedAccuracy(kTask, "acc", candidate, reference);
}

}  // namespace fp4lab
