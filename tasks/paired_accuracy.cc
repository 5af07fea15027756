#include "tasks/paired_accuracy.h"

#include <map>
#include <string>

namespace fp4lab {
namespace {

// Scores by sample_id; InvalidArgument for a duplicate id or a score that is not 0/1.
Result<std::map<std::string, double>> ScoresById(std::string_view task, const std::vector<SampleRecord>& samples) {
  std::map<std::string, double> scores;
  for (const SampleRecord& sample : samples) {
    if (sample.score != 0.0 && sample.score != 1.0) {
      return Status::InvalidArgument(std::string(task) + ": sample '" + sample.sample_id + "' (" + sample.precision +
                                     ") has score " + std::to_string(sample.score) +
                                     "; a paired accuracy comparison needs 0 or 1");
    }
    if (!scores.emplace(sample.sample_id, sample.score).second) {
      return Status::InvalidArgument(std::string(task) + ": sample id '" + sample.sample_id + "' occurs twice in " +
                                     sample.precision);
    }
  }
  return scores;
}

}  // namespace

Result<std::vector<ComparisonRecord>> ComparePairedAccuracy(std::string_view task, std::string_view metric,
                                                            const std::vector<SampleRecord>& candidate,
                                                            const std::vector<SampleRecord>& reference,
                                                            const BootstrapOptions& bootstrap) {
  FP4LAB_ASSIGN_OR_RETURN(const auto cand_scores, ScoresById(task, candidate));
  FP4LAB_ASSIGN_OR_RETURN(const auto ref_scores, ScoresById(task, reference));
  std::vector<double> cand, ref;
  for (const auto& [id, score] : cand_scores) {
    const auto it = ref_scores.find(id);
    if (it == ref_scores.end()) continue;
    cand.push_back(score);
    ref.push_back(it->second);
  }
  if (cand.empty()) return std::vector<ComparisonRecord>{};
  FP4LAB_ASSIGN_OR_RETURN(const ConfidenceInterval ci, PairedBootstrapCi(cand, ref, bootstrap));
  FP4LAB_ASSIGN_OR_RETURN(const FlipCounts flips, CountFlips(ref, cand));
  FP4LAB_ASSIGN_OR_RETURN(const double p, McNemarExactPValue(flips.b, flips.c));
  const int64_t pairs = static_cast<int64_t>(cand.size());
  ComparisonRecord c;
  c.task = std::string(task);
  c.precision = candidate.front().precision;
  c.reference_precision = reference.front().precision;
  c.metric = std::string(metric);
  c.delta = ci.estimate;
  c.ci_low = ci.low;
  c.ci_high = ci.high;
  c.p_value = p;
  c.method = "paired_bootstrap+mcnemar_exact";
  c.extra = {{"right_to_wrong", flips.b},
             {"wrong_to_right", flips.c},
             {"n", pairs},
             {"unpaired_candidate", static_cast<int64_t>(cand_scores.size()) - pairs},
             {"unpaired_reference", static_cast<int64_t>(ref_scores.size()) - pairs}};
  return std::vector<ComparisonRecord>{c};
}

}  // namespace fp4lab
