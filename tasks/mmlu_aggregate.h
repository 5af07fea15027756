// Metrics of MMLU-style samples, shared by the loglikelihood `mmlu` task and `mmlu_generative`: samples with id
// "<subject>/<row>" (tasks/mmlu_data.h MmluItemId), score 1 (correct) / 0 (wrong) and data {truncated: bool}.
#pragma once

#include <string_view>
#include <vector>

#include "engine/status.h"
#include "results/records.h"

namespace fp4lab {

// The metrics of task `task` at the samples' precision, with accuracy name `accuracy` ("acc" for mmlu,
// "exact_match" for mmlu_generative; higher_is "better"):
//   <accuracy>                micro mean over items, stderr = sample std / sqrt(n)
//   <accuracy>_macro          unweighted mean of subject accuracies, n = subjects
//   <accuracy>_cat/<category> size-weighted over the category's items, lm-eval's pooled-variance stderr
//   <accuracy>/<subject>      stderr as the micro mean
//   n, truncated              items ("items", neutral)
// Sums run in subject, then row order, so the result does not depend on the order of `samples`.
// InvalidArgument naming `task` for no samples, an id that is not "<known subject>/<row>", a duplicate id, a score
// other than 0/1, or a missing/non-boolean data field "truncated".
Result<std::vector<MetricRecord>> AggregateMmluSamples(std::string_view task, std::string_view accuracy,
                                                       const std::vector<SampleRecord>& samples);

}  // namespace fp4lab
