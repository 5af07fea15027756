#include "tasks/mmlu_task.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>

#include "datasets/sha256.h"
#include "results/stats.h"
#include "tasks/lm_requests.h"
#include "tasks/mmlu_categories.h"
#include "tasks/mmlu_prompt.h"
#include "tasks/paired_accuracy.h"

namespace fp4lab {
namespace {

constexpr std::string_view kTask = "mmlu";
constexpr size_t kBatchItems = 32;  // samples stored per transaction

std::string ItemId(std::string_view subject, size_t row) { return std::string(subject) + "/" + std::to_string(row); }

MetricRecord Metric(const std::string& precision, std::string name, double value, int64_t n, const char* unit,
                    const char* higher_is) {
  return MakeMetric(kTask, precision, std::move(name), value, n, unit, higher_is);
}

// An accuracy metric over `scores` (0/1), with stderr = sample std / sqrt(n) when n >= 2.
Result<MetricRecord> AccuracyMetric(const std::string& precision, std::string name, const std::vector<double>& scores) {
  FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(scores));
  MetricRecord m = Metric(precision, std::move(name), mean, static_cast<int64_t>(scores.size()), "", "better");
  if (scores.size() >= 2) {
    FP4LAB_ASSIGN_OR_RETURN(const double se, StandardError(scores));
    m.stderr_value = se;
  }
  return m;
}

// One stored item, read back for aggregation.
struct StoredItem {
  double score = 0.0;
  bool truncated = false;
};

// Parses "<subject>/<row>" into its subject (one of the 57) and row.
Status ParseItemId(const std::string& id, std::string& subject, int64_t& row) {
  const size_t slash = id.rfind('/');
  const std::string_view digits =
      slash == std::string::npos ? std::string_view() : std::string_view(id).substr(slash + 1);
  const bool digits_ok = !digits.empty() && digits.size() <= 18 && (digits.size() == 1 || digits[0] != '0') &&
                         digits.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits_ok) {
    return Status::InvalidArgument("mmlu: sample id '" + id + "' is not '<subject>/<row>'");
  }
  subject = id.substr(0, slash);
  if (!LookupMmluSubject(subject).ok()) {
    return Status::InvalidArgument("mmlu: sample id '" + id + "' names unknown MMLU subject '" + subject + "'");
  }
  row = std::stoll(std::string(digits));
  return Status::Ok();
}

// Items by subject, then row (so sums do not depend on the order the store returned them in).
Result<std::map<std::string, std::map<int64_t, StoredItem>>> ReadItems(const std::vector<SampleRecord>& samples) {
  std::map<std::string, std::map<int64_t, StoredItem>> items;
  for (const SampleRecord& sample : samples) {
    std::string subject;
    int64_t row = 0;
    FP4LAB_RETURN_IF_ERROR(ParseItemId(sample.sample_id, subject, row));
    if (sample.score != 0.0 && sample.score != 1.0) {
      return Status::InvalidArgument("mmlu: sample '" + sample.sample_id + "' has score " +
                                     std::to_string(sample.score) + ", expected 0 or 1");
    }
    const auto truncated = sample.data.find("truncated");
    if (truncated == sample.data.end() || !truncated->is_boolean()) {
      return Status::InvalidArgument("mmlu: sample '" + sample.sample_id +
                                     "': data field 'truncated' is missing or not a boolean");
    }
    if (!items[subject].emplace(row, StoredItem{sample.score, truncated->get<bool>()}).second) {
      return Status::InvalidArgument("mmlu: sample id '" + sample.sample_id + "' occurs twice");
    }
  }
  return items;
}

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
  FP4LAB_ASSIGN_OR_RETURN(const MmluSplit split, ParseMmluSplit(options.split));
  if (options.shots < 0) {
    return Status::InvalidArgument("mmlu: shots must be >= 0, got " + std::to_string(options.shots));
  }
  if (options.limit < 0) {
    return Status::InvalidArgument("mmlu: limit must be >= 0 (0 = all rows), got " + std::to_string(options.limit));
  }
  if (options.subjects.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(options.subjects, ListMmluSubjects(options.data_dir, split));
  }
  std::vector<Subject> subjects;
  std::string manifest;
  const auto read = [&](MmluSplit which, const std::string& name) -> Result<std::vector<MmluQuestion>> {
    const std::string path = MmluSubjectPath(options.data_dir, which, name);
    FP4LAB_ASSIGN_OR_RETURN(const std::string sha, Sha256FileHex(path));
    manifest += std::string(MmluSplitName(which)) + "/" + name + "_" + std::string(MmluSplitName(which)) + ".csv " +
                sha + "\n";
    return LoadMmluSubject(options.data_dir, which, name);
  };
  for (size_t i = 0; i < options.subjects.size(); ++i) {
    const std::string& name = options.subjects[i];
    if (std::find(options.subjects.begin(), options.subjects.begin() + static_cast<std::ptrdiff_t>(i), name) !=
        options.subjects.begin() + static_cast<std::ptrdiff_t>(i)) {
      return Status::InvalidArgument("mmlu: subject '" + name + "' is listed twice");
    }
    FP4LAB_ASSIGN_OR_RETURN(const MmluSubjectInfo info, LookupMmluSubject(name));
    Subject subject;
    subject.name = name;
    subject.category = std::string(MmluCategoryName(info.lm_eval_group));
    FP4LAB_ASSIGN_OR_RETURN(subject.items, read(split, name));
    if (options.limit > 0 && subject.items.size() > static_cast<size_t>(options.limit)) {
      subject.items.resize(static_cast<size_t>(options.limit));
    }
    if (options.shots > 0) {
      FP4LAB_ASSIGN_OR_RETURN(subject.dev, read(MmluSplit::kDev, name));
      if (subject.dev.size() < static_cast<size_t>(options.shots)) {
        return Status::InvalidArgument(MmluSubjectPath(options.data_dir, MmluSplit::kDev, name) + ": " +
                                       std::to_string(options.shots) + " shots requested but the file has " +
                                       std::to_string(subject.dev.size()) + " rows");
      }
      subject.dev.resize(static_cast<size_t>(options.shots));
    }
    subjects.push_back(std::move(subject));
  }
  const std::string sha = Sha256Hex(manifest);
  return std::unique_ptr<MmluTask>(new MmluTask(std::move(options), std::move(subjects), sha));
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

Result<MmluTask::PreparedItem> MmluTask::PrepareItem(const LanguageModel& model, const Subject& subject,
                                                     size_t row) const {
  PreparedItem item;
  item.id = ItemId(subject.name, row);
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

SampleRecord MmluTask::FinishItem(const Subject& subject, const PreparedItem& item,
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
  for (size_t s = 0; s < subjects_.size(); ++s) {
    for (size_t row = 0; row < subjects_[s].items.size(); ++row) {
      if (run.should_run(ItemId(subjects_[s].name, row))) pending.emplace_back(s, row);
    }
  }
  const int64_t total = static_cast<int64_t>(pending.size());
  for (size_t start = 0; start < pending.size(); start += kBatchItems) {
    const size_t end = std::min(pending.size(), start + kBatchItems);
    std::vector<PreparedItem> items;
    for (size_t k = start; k < end; ++k) {
      const auto [subject, row] = pending[k];
      FP4LAB_ASSIGN_OR_RETURN(PreparedItem item, PrepareItem(run.model, subjects_[subject], row));
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
      batch.push_back(FinishItem(subjects_[pending[start + k].first], items[k], logprobs, run.log_samples));
    }
    FP4LAB_RETURN_IF_ERROR(run.emit(std::move(batch)));
    if (run.progress) run.progress(static_cast<int64_t>(end), total);
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> MmluTask::Aggregate(const std::vector<SampleRecord>& samples) const {
  if (samples.empty()) return Status::InvalidArgument("mmlu: no samples to aggregate");
  FP4LAB_ASSIGN_OR_RETURN(const auto items, ReadItems(samples));
  const std::string& precision = samples.front().precision;
  std::vector<double> all;
  int64_t truncated = 0;
  std::vector<MetricRecord> per_subject;
  std::vector<double> subject_accs;
  // Per category: its items' scores and the within-subject sum of squared deviations (for the pooled variance).
  struct CategorySums {
    std::vector<double> scores;
    double within_ss = 0.0;
    int64_t subjects = 0;
  };
  std::map<std::string, CategorySums> categories;
  for (const auto& [subject, rows] : items) {
    std::vector<double> scores;
    for (const auto& [row, item] : rows) {
      scores.push_back(item.score);
      if (item.truncated) ++truncated;
    }
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord acc, AccuracyMetric(precision, "acc/" + subject, scores));
    subject_accs.push_back(acc.value);
    FP4LAB_ASSIGN_OR_RETURN(const MmluSubjectInfo info, LookupMmluSubject(subject));
    CategorySums& category = categories[std::string(MmluCategoryName(info.lm_eval_group))];
    for (double x : scores) category.within_ss += (x - acc.value) * (x - acc.value);
    category.scores.insert(category.scores.end(), scores.begin(), scores.end());
    ++category.subjects;
    all.insert(all.end(), scores.begin(), scores.end());
    per_subject.push_back(std::move(acc));
  }
  std::vector<MetricRecord> metrics;
  FP4LAB_ASSIGN_OR_RETURN(MetricRecord acc, AccuracyMetric(precision, "acc", all));
  metrics.push_back(std::move(acc));
  FP4LAB_ASSIGN_OR_RETURN(const double macro, Mean(subject_accs));
  metrics.push_back(
      Metric(precision, "acc_macro", macro, static_cast<int64_t>(subject_accs.size()), "", "better"));
  for (const auto& [name, category] : categories) {
    FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(category.scores));
    const int64_t n = static_cast<int64_t>(category.scores.size());
    MetricRecord m = Metric(precision, "acc_cat/" + name, mean, n, "", "better");
    // lm-eval's pooled_sample_stderr: pooled variance sum_i (n_i - 1) s_i^2 / (N - k) over the k subjects, whose
    // numerator is the within-subject sum of squares; stderr = sqrt(pooled variance / N).
    if (n > category.subjects) {
      m.stderr_value =
          std::sqrt(category.within_ss / static_cast<double>(n - category.subjects) / static_cast<double>(n));
    }
    metrics.push_back(std::move(m));
  }
  for (MetricRecord& m : per_subject) metrics.push_back(std::move(m));
  const int64_t n = static_cast<int64_t>(all.size());
  metrics.push_back(Metric(precision, "n", static_cast<double>(n), n, "items", ""));
  metrics.push_back(Metric(precision, "truncated", static_cast<double>(truncated), n, "items", ""));
  return metrics;
}

Result<std::vector<ComparisonRecord>> MmluTask::Compare(const std::vector<SampleRecord>& candidate,
                                                        const std::vector<SampleRecord>& reference) const {
  return ComparePairedAccuracy(kTask, "acc", candidate, reference);
}

}  // namespace fp4lab
