#include "tasks/mmlu_aggregate.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>

#include "results/stats.h"
#include "tasks/mmlu_categories.h"
#include "tasks/task.h"

namespace fp4lab {
namespace {

// An accuracy metric over `scores` (0/1), with stderr = sample std / sqrt(n) when n >= 2.
Result<MetricRecord> AccuracyMetric(std::string_view task, const std::string& precision, std::string name,
                                    const std::vector<double>& scores) {
  FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(scores));
  MetricRecord m = MakeMetric(task, precision, std::move(name), mean, static_cast<int64_t>(scores.size()), "",
                              "better");
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
Status ParseItemId(const std::string& task, const std::string& id, std::string& subject, int64_t& row) {
  const size_t slash = id.rfind('/');
  const std::string_view digits =
      slash == std::string::npos ? std::string_view() : std::string_view(id).substr(slash + 1);
  const bool digits_ok = !digits.empty() && digits.size() <= 18 && (digits.size() == 1 || digits[0] != '0') &&
                         digits.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits_ok) {
    return Status::InvalidArgument(task + ": sample id '" + id + "' is not '<subject>/<row>'");
  }
  subject = id.substr(0, slash);
  if (!LookupMmluSubject(subject).ok()) {
    return Status::InvalidArgument(task + ": sample id '" + id + "' names unknown MMLU subject '" + subject + "'");
  }
  row = std::stoll(std::string(digits));
  return Status::Ok();
}

// Items by subject, then row (so sums do not depend on the order the store returned them in).
Result<std::map<std::string, std::map<int64_t, StoredItem>>> ReadItems(const std::string& task,
                                                                       const std::vector<SampleRecord>& samples) {
  std::map<std::string, std::map<int64_t, StoredItem>> items;
  for (const SampleRecord& sample : samples) {
    std::string subject;
    int64_t row = 0;
    FP4LAB_RETURN_IF_ERROR(ParseItemId(task, sample.sample_id, subject, row));
    if (sample.score != 0.0 && sample.score != 1.0) {
      return Status::InvalidArgument(task + ": sample '" + sample.sample_id + "' has score " +
                                     std::to_string(sample.score) + ", expected 0 or 1");
    }
    const auto truncated = sample.data.find("truncated");
    if (truncated == sample.data.end() || !truncated->is_boolean()) {
      return Status::InvalidArgument(task + ": sample '" + sample.sample_id +
                                     "': data field 'truncated' is missing or not a boolean");
    }
    if (!items[subject].emplace(row, StoredItem{sample.score, truncated->get<bool>()}).second) {
      return Status::InvalidArgument(task + ": sample id '" + sample.sample_id + "' occurs twice");
    }
  }
  return items;
}

}  // namespace

Result<std::vector<MetricRecord>> AggregateMmluSamples(std::string_view task_name, std::string_view accuracy_name,
                                                       const std::vector<SampleRecord>& samples) {
  const std::string task(task_name);
  const std::string accuracy(accuracy_name);
  if (samples.empty()) return Status::InvalidArgument(task + ": no samples to aggregate");
  FP4LAB_ASSIGN_OR_RETURN(const auto items, ReadItems(task, samples));
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
    FP4LAB_ASSIGN_OR_RETURN(MetricRecord acc, AccuracyMetric(task, precision, accuracy + "/" + subject, scores));
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
  FP4LAB_ASSIGN_OR_RETURN(MetricRecord acc, AccuracyMetric(task, precision, accuracy, all));
  metrics.push_back(std::move(acc));
  FP4LAB_ASSIGN_OR_RETURN(const double macro, Mean(subject_accs));
  metrics.push_back(MakeMetric(task, precision, accuracy + "_macro", macro,
                               static_cast<int64_t>(subject_accs.size()), "", "better"));
  for (const auto& [name, category] : categories) {
    FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(category.scores));
    const int64_t n = static_cast<int64_t>(category.scores.size());
    MetricRecord m = MakeMetric(task, precision, accuracy + "_cat/" + name, mean, n, "", "better");
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
  metrics.push_back(MakeMetric(task, precision, "n", static_cast<double>(n), n, "items", ""));
  metrics.push_back(MakeMetric(task, precision, "truncated", static_cast<double>(truncated), n, "items", ""));
  return metrics;
}

}  // namespace fp4lab
