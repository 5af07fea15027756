// Paired accuracy comparison for tasks whose samples carry a 0/1 score (MMLU "correct", HumanEval "passed"):
// candidate and reference samples are joined on sample_id, and the difference in accuracy is reported with a
// seeded paired-bootstrap 95 % interval (results/stats.h PairedBootstrapCi) and McNemar's exact p-value
// over the discordant pairs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "results/records.h"
#include "results/stats.h"

namespace fp4lab {

// The bootstrap used for every accuracy comparison: 2000 resamples, seed 1234, two-sided 95 %.
inline constexpr BootstrapOptions kPairedAccuracyBootstrap = {2000, 1234, 0.95};

// Joins `candidate` and `reference` on sample_id (items present in both; the pairs are taken in sample_id order,
// so the result does not depend on the order the store returned the rows in) and returns one ComparisonRecord:
//   task, metric        as given ("acc", "pass@1");
//   precision           the candidate samples' precision, reference_precision the reference samples';
//   delta               mean(candidate score) - mean(reference score) over the pairs;
//   ci_low / ci_high    the paired-bootstrap percentile interval of delta (`bootstrap`);
//   p_value             McNemarExactPValue(right_to_wrong, wrong_to_right);
//   method              "paired_bootstrap+mcnemar_exact";
//   extra               {"right_to_wrong": b (reference 1, candidate 0), "wrong_to_right": c (reference 0,
//                        candidate 1), "n": pairs, "unpaired_candidate": ids only in candidate,
//                        "unpaired_reference": ids only in reference}.
// Returns an empty vector when no sample_id is shared (nothing to compare). InvalidArgument naming `task`, the
// sample id and the precision for a score other than exactly 0 or 1, or for a sample_id that occurs twice in
// one list.
Result<std::vector<ComparisonRecord>> ComparePairedAccuracy(std::string_view task, std::string_view metric,
                                                            const std::vector<SampleRecord>& candidate,
                                                            const std::vector<SampleRecord>& reference,
                                                            const BootstrapOptions& bootstrap =
                                                                kPairedAccuracyBootstrap);

}  // namespace fp4lab
