#include "results/gate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "results/stats.h"
#include "results/synthetic_weights.h"

namespace fp4lab {
namespace {

// Two stored numbers that should be the same computation (a mean of n scores, or a difference of two means)
// agree to this relative tolerance: summing n <= 1e7 doubles loses at most n * 2^-53 ~ 1e-9 relative, so
// 1e-6 never rejects a consistent store, while a different statistic (e.g. a log ratio instead of a
// difference) misses by far more.
constexpr double kSameValueRelTol = 1e-6;
// value * n of an accuracy differs from an integer count only by rounding (<< 1e-6 for n <= 1e7).
constexpr double kCountTol = 1e-6;

std::string Num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g", v);
  return buffer;
}

bool SameValue(double a, double b) {
  return std::fabs(a - b) <= kSameValueRelTol * std::max({1.0, std::fabs(a), std::fabs(b)});
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Metrics that are a fraction of n items counted correct (a Wilson interval applies).
bool IsAccuracyMetric(const std::string& metric) {
  return metric == "acc" || StartsWith(metric, "acc/") || StartsWith(metric, "acc_cat/") || StartsWith(metric, "pass@");
}

std::string MetricKey(const std::string& task, const std::string& precision, const std::string& metric) {
  return task + "/" + precision + "/" + metric;
}

const MetricRecord* FindMetric(const GateRunData& data, const std::string& task, const std::string& precision,
                               const std::string& metric) {
  for (const MetricRecord& m : data.metrics) {
    if (m.task == task && m.precision == precision && m.metric == metric) return &m;
  }
  return nullptr;
}

const ComparisonRecord* FindComparison(const GateRunData& data, const GateRule& rule) {
  for (const ComparisonRecord& c : data.comparisons) {
    if (c.task == rule.task && c.precision == rule.precision && c.reference_precision == rule.reference_precision &&
        c.metric == rule.metric) {
      return &c;
    }
  }
  return nullptr;
}

// "run #7 has no metric mmlu/nvfp4/acc (metrics of mmlu/nvfp4: acc_macro, acc/anatomy, ...)".
std::string MissingMetric(const GateRunData& data, const std::string& task, const std::string& precision,
                          const std::string& metric) {
  std::string known;
  int listed = 0;
  for (const MetricRecord& m : data.metrics) {
    if (m.task != task || m.precision != precision) continue;
    if (listed++ == 6) {
      known += ", ...";
      break;
    }
    known += (known.empty() ? "" : ", ") + m.metric;
  }
  std::string message = "run #" + std::to_string(data.run.id) + " has no metric " + MetricKey(task, precision, metric);
  return message + (known.empty() ? " (no metrics for " + task + "/" + precision + ")"
                                  : " (metrics of " + task + "/" + precision + ": " + known + ")");
}

const char* QuantityName(const GateRule& rule) {
  switch (rule.kind) {
    case GateKind::kAbsolute:
      return rule.against == GateAgainst::kNone ? "value" : "delta";
    case GateKind::kRelative:
      return "relative change";
    case GateKind::kRatio:
      return "ratio";
  }
  return "value";
}

// The rule's quantity from the candidate value c and comparator r (ignored for absolute-none).
double Quantity(const GateRule& rule, double c, double r) {
  switch (rule.kind) {
    case GateKind::kAbsolute:
      return rule.against == GateAgainst::kNone ? c : c - r;
    case GateKind::kRelative:
      return (c - r) / std::fabs(r);
    case GateKind::kRatio:
      return c / r;
  }
  return c;
}

// Maps an interval of the difference c - r onto the rule's quantity, treating r as fixed.
void DeltaIntervalToQuantity(const GateRule& rule, double r, double* low, double* high) {
  if (rule.kind == GateKind::kRelative) {
    *low /= std::fabs(r);
    *high /= std::fabs(r);
  } else if (rule.kind == GateKind::kRatio) {  // r > 0 (checked), so the order is kept
    *low = 1.0 + *low / r;
    *high = 1.0 + *high / r;
  }
}

std::string BoundsText(const GateRule& rule) {
  if (rule.min && rule.max) return "[" + Num(*rule.min) + ", " + Num(*rule.max) + "]";
  return rule.min ? "min " + Num(*rule.min) : "max " + Num(*rule.max);
}

GateRuleResult Error(GateRuleResult result, std::string reason) {
  result.outcome = GateOutcome::kError;
  result.reason = std::move(reason);
  return result;
}

// Interval of the candidate's own value (against none).
Status ValueInterval(const MetricRecord& c, GateRuleResult* result) {
  if (IsAccuracyMetric(c.metric) && c.n > 0 && c.value >= 0.0 && c.value <= 1.0) {
    const double count = c.value * static_cast<double>(c.n);
    if (std::fabs(count - std::round(count)) <= kCountTol) {
      FP4LAB_ASSIGN_OR_RETURN(ConfidenceInterval ci, WilsonInterval(static_cast<int64_t>(std::round(count)), c.n));
      result->ci_low = ci.low;
      result->ci_high = ci.high;
      result->interval_method = "wilson";
      return Status::Ok();
    }
  }
  if (c.stderr_value) {
    result->ci_low = c.value - kZ95TwoSided * *c.stderr_value;
    result->ci_high = c.value + kZ95TwoSided * *c.stderr_value;
    result->interval_method = "normal";
    return Status::Ok();
  }
  return Status::FailedPrecondition("statistical mode needs an interval: " + c.metric +
                                    " has no stderr and is not an accuracy over n items");
}

// Interval of c - r from the stored paired comparison (against reference).
Status ReferenceInterval(const GateRule& rule, const GateRunData& candidate, double c, double r,
                         GateRuleResult* result) {
  const ComparisonRecord* cmp = FindComparison(candidate, rule);
  if (cmp == nullptr) {
    return Status::NotFound("run #" + std::to_string(candidate.run.id) + " has no paired comparison of " +
                            MetricKey(rule.task, rule.precision, rule.metric) + " vs " + rule.reference_precision +
                            "; use mode \"point\"");
  }
  if (!SameValue(cmp->delta, c - r)) {
    return Status::FailedPrecondition("stored comparison delta " + Num(cmp->delta) + " of " + rule.metric +
                                      " is not candidate - reference = " + Num(c - r) +
                                      "; its interval does not bound this rule's quantity");
  }
  double low = cmp->ci_low;
  double high = cmp->ci_high;
  DeltaIntervalToQuantity(rule, r, &low, &high);
  result->ci_low = low;
  result->ci_high = high;
  result->interval_method = cmp->method.empty() ? "stored comparison" : cmp->method;
  return Status::Ok();
}

// Joins two runs' samples on sample_id; both sets must hold the same items, and each metric must be the mean of
// its samples' scores, otherwise resampling items would not resample the metric.
Status BaselineInterval(const GateRule& rule, const GateRunData& candidate, const GateRunData& baseline, double c,
                        double r, const GateSampleLoader& load_samples, const GateOptions& options,
                        GateRuleResult* result) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<SampleRecord> cand, load_samples(candidate.run.id, rule.task, rule.precision));
  FP4LAB_ASSIGN_OR_RETURN(std::vector<SampleRecord> base, load_samples(baseline.run.id, rule.task, rule.precision));
  const std::string what = rule.task + "/" + rule.precision;
  if (cand.empty() || base.empty()) {
    return Status::NotFound("paired bootstrap needs samples of " + what + " in both runs; run #" +
                            std::to_string(cand.empty() ? candidate.run.id : baseline.run.id) + " has none");
  }
  std::map<std::string, double> base_scores;
  for (const SampleRecord& s : base) base_scores[s.sample_id] = s.score;
  std::vector<double> cand_joined;
  std::vector<double> base_joined;
  for (const SampleRecord& s : cand) {
    auto it = base_scores.find(s.sample_id);
    if (it == base_scores.end()) continue;
    cand_joined.push_back(s.score);
    base_joined.push_back(it->second);
  }
  if (cand_joined.size() != cand.size() || cand_joined.size() != base_scores.size()) {
    return Status::FailedPrecondition(
        "runs #" + std::to_string(candidate.run.id) + " and #" + std::to_string(baseline.run.id) + " share " +
        std::to_string(cand_joined.size()) + " of " + std::to_string(cand.size()) + " / " +
        std::to_string(base_scores.size()) + " samples of " + what + "; a paired bootstrap needs identical item sets");
  }
  FP4LAB_ASSIGN_OR_RETURN(double cand_mean, Mean(cand_joined));
  FP4LAB_ASSIGN_OR_RETURN(double base_mean, Mean(base_joined));
  if (!SameValue(cand_mean, c) || !SameValue(base_mean, r)) {
    return Status::FailedPrecondition(rule.metric + " is not the mean of the " + what + " sample scores (" + Num(c) +
                                      " vs mean " + Num(cand_mean) + ", baseline " + Num(r) + " vs " + Num(base_mean) +
                                      "); resampling items cannot give its interval");
  }
  BootstrapOptions bootstrap;
  bootstrap.resamples = options.bootstrap_resamples;
  bootstrap.seed = options.bootstrap_seed;
  FP4LAB_ASSIGN_OR_RETURN(ConfidenceInterval ci, PairedBootstrapCi(cand_joined, base_joined, bootstrap));
  double low = ci.low;
  double high = ci.high;
  DeltaIntervalToQuantity(rule, r, &low, &high);
  result->ci_low = low;
  result->ci_high = high;
  result->interval_method = "paired_bootstrap";
  return Status::Ok();
}

std::string ComparedText(const GateRule& rule, double c, const std::optional<double>& r) {
  std::string text = "(" + rule.metric + " " + Num(c);
  if (r) text += " vs " + std::string(GateAgainstName(rule.against)) + " " + Num(*r);
  return text + ")";
}

}  // namespace

const char* GateOutcomeName(GateOutcome outcome) {
  switch (outcome) {
    case GateOutcome::kPass:
      return "pass";
    case GateOutcome::kFail:
      return "fail";
    case GateOutcome::kError:
      return "error";
  }
  return "error";
}

GateCounts CountGateOutcomes(const GateReport& report) {
  GateCounts counts;
  if (!report.setup_error.empty()) counts.error = 1;
  for (const GateRuleResult& r : report.results) {
    if (r.outcome == GateOutcome::kPass) ++counts.pass;
    if (r.outcome == GateOutcome::kFail) ++counts.fail;
    if (r.outcome == GateOutcome::kError) ++counts.error;
  }
  return counts;
}

int GateExitCode(const GateReport& report) {
  const GateCounts counts = CountGateOutcomes(report);
  if (counts.error > 0 || report.results.empty()) return 2;
  return counts.fail > 0 ? 1 : 0;
}

GateRuleResult EvaluateGateRule(const GateRule& rule, const GateRunData& candidate, const GateRunData* baseline,
                                const GateSampleLoader& load_samples, const GateOptions& options) {
  GateRuleResult result;
  result.rule = rule;
  const MetricRecord* c = FindMetric(candidate, rule.task, rule.precision, rule.metric);
  if (c == nullptr) return Error(result, MissingMetric(candidate, rule.task, rule.precision, rule.metric));

  if (rule.kind != GateKind::kAbsolute && rule.against == GateAgainst::kNone) {
    return Error(result, std::string("kind \"") + GateKindName(rule.kind) + "\" needs a comparator (against)");
  }
  std::optional<double> r;
  if (rule.against == GateAgainst::kReference) {
    const MetricRecord* ref = FindMetric(candidate, rule.task, rule.reference_precision, rule.metric);
    if (ref == nullptr) {
      return Error(result, MissingMetric(candidate, rule.task, rule.reference_precision, rule.metric));
    }
    r = ref->value;
  } else if (rule.against == GateAgainst::kBaseline) {
    if (baseline == nullptr) return Error(result, "rule compares against a baseline run, but no baseline was given");
    const MetricRecord* base = FindMetric(*baseline, rule.task, rule.precision, rule.metric);
    if (base == nullptr) return Error(result, MissingMetric(*baseline, rule.task, rule.precision, rule.metric));
    r = base->value;
  }
  if (rule.kind == GateKind::kRelative && *r == 0.0) {
    return Error(result, "relative change is undefined: the " + std::string(GateAgainstName(rule.against)) +
                             " value of " + rule.metric + " is 0");
  }
  if (rule.kind == GateKind::kRatio && !(*r > 0.0)) {
    return Error(result, "ratio needs a positive " + std::string(GateAgainstName(rule.against)) + " value; " +
                             rule.metric + " is " + Num(*r));
  }
  const double q = Quantity(rule, c->value, r.value_or(0.0));
  result.observed = q;
  const std::string quantity = QuantityName(rule);
  const std::string compared = ComparedText(rule, c->value, r);

  if (rule.mode == GateMode::kPoint) {
    if (rule.max && q > *rule.max) {
      result.outcome = GateOutcome::kFail;
      result.reason = quantity + " " + Num(q) + " above max " + Num(*rule.max) + " " + compared;
    } else if (rule.min && q < *rule.min) {
      result.outcome = GateOutcome::kFail;
      result.reason = quantity + " " + Num(q) + " below min " + Num(*rule.min) + " " + compared;
    } else {
      result.outcome = GateOutcome::kPass;
      result.reason = quantity + " " + Num(q) + " within " + BoundsText(rule) + " " + compared;
    }
    return result;
  }

  Status interval;
  switch (rule.against) {
    case GateAgainst::kNone:
      interval = ValueInterval(*c, &result);
      break;
    case GateAgainst::kReference:
      interval = ReferenceInterval(rule, candidate, c->value, *r, &result);
      break;
    case GateAgainst::kBaseline:
      interval = BaselineInterval(rule, candidate, *baseline, c->value, *r, load_samples, options, &result);
      break;
  }
  if (!interval.ok()) return Error(result, interval.message());
  const std::string ci = "95% interval [" + Num(*result.ci_low) + ", " + Num(*result.ci_high) + "] of " + quantity +
                         " (" + result.interval_method + ", point " + Num(q) + ")";
  if (rule.max && *result.ci_low > *rule.max) {
    result.outcome = GateOutcome::kFail;
    result.reason = ci + " lies entirely above max " + Num(*rule.max) + " " + compared;
  } else if (rule.min && *result.ci_high < *rule.min) {
    result.outcome = GateOutcome::kFail;
    result.reason = ci + " lies entirely below min " + Num(*rule.min) + " " + compared;
  } else {
    result.outcome = GateOutcome::kPass;
    result.reason = ci + " is not entirely beyond " + BoundsText(rule) + " " + compared;
  }
  return result;
}

namespace {

Result<GateRunData> LoadRunData(ResultStore& store, RunRecord run) {
  GateRunData data;
  FP4LAB_ASSIGN_OR_RETURN(data.metrics, store.ListMetrics(run.id));
  FP4LAB_ASSIGN_OR_RETURN(data.comparisons, store.ListComparisons(run.id));
  data.run = std::move(run);
  return data;
}

Result<RunRecord> ResolveCandidate(ResultStore& store, const GateOptions& options) {
  if (options.run_id) return store.GetRun(*options.run_id);
  FP4LAB_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store.ListRuns());
  if (runs.empty()) return Status::NotFound(store.path() + ": the database holds no runs");
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (it->status == RunStatus::kComplete) return *it;
  }
  return Status::NotFound(store.path() + ": no complete run among " + std::to_string(runs.size()) +
                          " runs; pass a run id");
}

Result<RunRecord> ResolveBaseline(ResultStore& store, const std::string& baseline) {
  const bool is_id = baseline.find_first_not_of("0123456789") == std::string::npos && baseline.size() <= 18;
  if (is_id) return store.GetRun(std::stoll(baseline));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<RunRecord> run, store.LatestRunWithTag(baseline));
  if (!run) return Status::NotFound(store.path() + ": no complete run tagged \"" + baseline + "\" for the baseline");
  return *std::move(run);
}

// Empty when `run` is complete or incomplete runs are allowed (a warning is added then); else the setup error.
std::string CheckRunComplete(const RunRecord& run, const char* role, const GateOptions& options, GateReport* report) {
  if (run.status == RunStatus::kComplete) return "";
  const std::string what = std::string(role) + " run " + std::to_string(run.id) + " is incomplete: status " +
                           RunStatusName(run.status) + " (killed, failed or still running)";
  if (!options.allow_incomplete) return what + "; finish it with `fp4lab run --resume` or pass --allow-incomplete";
  report->warnings.push_back(what + "; gated anyway because of --allow-incomplete");
  return "";
}

// Empty for a run of a real checkpoint; the setup error for one of synthetic weights (results/synthetic_weights.h).
std::string CheckRealWeights(const RunRecord& run, const char* role) {
  const std::optional<std::string> note = SyntheticWeightsNote(run);
  if (!note) return "";
  return std::string(role) + " run " + std::to_string(run.id) + " ran " + *note +
         "; the gate judges accuracy and refuses it";
}

}  // namespace

GateReport EvaluateGate(ResultStore& store, const std::vector<GateRule>& rules, const GateOptions& options) {
  GateReport report;
  if (rules.empty()) {
    report.setup_error = "no rules to evaluate";
    return report;
  }
  if (options.bootstrap_resamples < 100) {
    report.setup_error = "bootstrap_resamples is " + std::to_string(options.bootstrap_resamples) + ", expected >= 100";
    return report;
  }
  Result<RunRecord> candidate_run = ResolveCandidate(store, options);
  if (!candidate_run.ok()) {
    report.setup_error = "candidate run: " + candidate_run.status().message();
    return report;
  }
  report.run_id = candidate_run->id;
  report.setup_error = CheckRunComplete(*candidate_run, "candidate", options, &report);
  if (!report.setup_error.empty()) return report;
  report.setup_error = CheckRealWeights(*candidate_run, "candidate");
  if (!report.setup_error.empty()) return report;
  Result<GateRunData> candidate = LoadRunData(store, std::move(candidate_run).value());
  if (!candidate.ok()) {
    report.setup_error = candidate.status().message();
    return report;
  }
  std::optional<GateRunData> baseline;
  if (!options.baseline.empty()) {
    Result<RunRecord> baseline_run = ResolveBaseline(store, options.baseline);
    if (!baseline_run.ok()) {
      report.setup_error = "baseline \"" + options.baseline + "\": " + baseline_run.status().message();
      return report;
    }
    report.baseline_run_id = baseline_run->id;
    report.setup_error = CheckRunComplete(*baseline_run, "baseline", options, &report);
    if (!report.setup_error.empty()) return report;
    report.setup_error = CheckRealWeights(*baseline_run, "baseline");
    if (!report.setup_error.empty()) return report;
    Result<GateRunData> data = LoadRunData(store, std::move(baseline_run).value());
    if (!data.ok()) {
      report.setup_error = data.status().message();
      return report;
    }
    baseline = std::move(data).value();
  }
  const GateSampleLoader loader = [&store](int64_t run_id, const std::string& task, const std::string& precision) {
    return store.ListSamples(run_id, task, precision);
  };
  for (const GateRule& rule : rules) {
    report.results.push_back(EvaluateGateRule(rule, *candidate, baseline ? &*baseline : nullptr, loader, options));
  }
  return report;
}

GateReport RunGate(const std::string& db_path, const std::string& rules_path, const GateOptions& options) {
  GateReport report;
  Result<std::vector<GateRule>> rules = LoadGateRules(rules_path);
  if (!rules.ok()) {
    report.setup_error = rules.status().message();
    return report;
  }
  Result<std::unique_ptr<ResultStore>> store = ResultStore::Open(db_path, OpenMode::kReadOnly);
  if (!store.ok()) {
    report.setup_error = store.status().message();
    return report;
  }
  return EvaluateGate(**store, *rules, options);
}

}  // namespace fp4lab
