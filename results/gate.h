// The regression gate: evaluates rules (gate_rules.h) against a run in the result store, optionally against a
// baseline run, and says pass / fail / cannot-evaluate per rule with a one-line reason.
//
// Exit code contract (GateExitCode; the CLI maps it): 0 every rule passed, 1 at least one rule failed,
// 2 the gate could not evaluate: malformed rules, empty database, missing run or baseline, missing metric,
// or a statistical rule without the data its interval needs. A report with both a failed rule and a rule
// that could not be evaluated exits 2: a gate that cannot check all of its rules is not doing its job.
//
// Intervals in statistical mode (a rule then fails only when the whole 95% interval lies beyond a bound):
//   against none:      Wilson score interval for accuracies over n independent items (acc, acc/*, acc_cat/*,
//                      pass@*, value in [0, 1]), else value ± 1.96·stderr (the metric must have a stderr);
//   against reference: the stored paired ComparisonRecord interval of delta (candidate - reference); for
//                      relative it is divided by |r|, for ratio it is 1 + interval / r (r treated as fixed);
//   against baseline:  a paired bootstrap (percentile, seeded) over the samples both runs share, resampling
//                      items and recomputing the rule's quantity from the two means; valid only when each
//                      metric is the mean of its samples' scores over identical item sets, else cannot-evaluate.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "results/gate_rules.h"
#include "results/records.h"
#include "results/result_store.h"

namespace fp4lab {

struct GateOptions {
  std::optional<int64_t> run_id;   // the candidate run; empty: the latest complete run
  std::string baseline;            // empty: none; all digits: a run id; otherwise the newest complete run with
                                   // this tag (LatestRunWithTag)
  // A candidate or baseline run that is not complete (killed, still running, failed) makes the gate unable to
  // evaluate (exit 2) unless this is set; then it is evaluated and the report carries a warning saying so.
  bool allow_incomplete = false;
  int bootstrap_resamples = 2000;  // for statistical rules against a baseline; >= 100
  uint64_t bootstrap_seed = 20260101;
};

enum class GateOutcome { kPass, kFail, kError };
const char* GateOutcomeName(GateOutcome outcome);  // "pass" | "fail" | "error"

struct GateRuleResult {
  GateRule rule;
  GateOutcome outcome = GateOutcome::kError;
  std::string reason;              // one line, e.g. "delta -0.031 below min -0.02 (acc 0.412 vs reference 0.443)"
  std::optional<double> observed;  // the bounded quantity (point estimate), when it could be computed
  std::optional<double> ci_low;    // statistical mode: its 95% interval
  std::optional<double> ci_high;
  std::string interval_method;  // statistical mode: "wilson", "normal", "paired_bootstrap", or the stored
                                // comparison's method, e.g. "mcnemar_exact"
};

struct GateReport {
  std::string setup_error;        // non-empty: nothing was evaluated (bad rules, no run, ...); exit 2
  std::optional<int64_t> run_id;  // the candidate run evaluated
  std::optional<int64_t> baseline_run_id;
  std::vector<GateRuleResult> results;  // one per rule, in rule order
  std::vector<std::string> warnings;    // e.g. "run 3 is incomplete (status running); gated with --allow-incomplete"
};

struct GateCounts {
  int pass = 0;
  int fail = 0;
  int error = 0;  // includes the setup error, counted once
};
GateCounts CountGateOutcomes(const GateReport& report);

// 0 / 1 / 2 as described at the top of this file.
int GateExitCode(const GateReport& report);

// What a rule reads from one run.
struct GateRunData {
  RunRecord run;
  std::vector<MetricRecord> metrics;
  std::vector<ComparisonRecord> comparisons;
};

// Returns the samples of (run_id, task, precision); used only by statistical rules against a baseline.
using GateSampleLoader = std::function<Result<std::vector<SampleRecord>>(int64_t run_id, const std::string& task,
                                                                         const std::string& precision)>;

// Evaluates one rule. `baseline` may be null (rules against a baseline then end in kError). Never fails as a
// call: problems become a kError result with the reason.
GateRuleResult EvaluateGateRule(const GateRule& rule, const GateRunData& candidate, const GateRunData* baseline,
                                const GateSampleLoader& load_samples, const GateOptions& options);

// Resolves the candidate and baseline runs in `store` and evaluates every rule.
GateReport EvaluateGate(ResultStore& store, const std::vector<GateRule>& rules, const GateOptions& options);

// The whole gate command: loads `rules_path`, opens `db_path` read-only, evaluates. Any failure to start
// becomes report.setup_error (exit 2).
GateReport RunGate(const std::string& db_path, const std::string& rules_path, const GateOptions& options);

}  // namespace fp4lab
