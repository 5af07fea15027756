// `fp4lab compare`: each metric for each precision of a run, with its delta against the reference precision and
// the 95% interval of that delta; or the same metrics of two runs side by side.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "harness/command.h"
#include "harness/run_selection.h"
#include "results/synthetic_weights.h"

namespace fp4lab {

namespace {

struct CompareFlags {
  std::string db = "results.sqlite";
  std::vector<int64_t> runs;
  bool json = false;
};

nlohmann::json MetricJson(const MetricRecord& m) {
  nlohmann::json j = {{"run", m.run_id}, {"task", m.task}, {"precision", m.precision}, {"metric", m.metric},
                      {"value", m.value}, {"n", m.n}, {"unit", m.unit}, {"higher_is", m.higher_is}};
  j["stderr"] = m.stderr_value ? nlohmann::json(*m.stderr_value) : nlohmann::json(nullptr);
  return j;
}

// One run: metrics plus the stored paired comparisons against its reference precision.
Result<int> CompareOneRun(ResultStore& store, const RunRecord& run, bool json) {
  FP4LAB_ASSIGN_OR_RETURN(auto metrics, store.ListMetrics(run.id));
  FP4LAB_ASSIGN_OR_RETURN(auto comparisons, store.ListComparisons(run.id));
  std::map<std::string, const ComparisonRecord*> by_key;  // task|precision|metric
  for (const auto& c : comparisons) by_key[c.task + "|" + c.precision + "|" + c.metric] = &c;
  const std::optional<std::string> synthetic = SyntheticWeightsNote(run);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : metrics) {
      nlohmann::json j = MetricJson(m);
      if (synthetic) j["synthetic_weights"] = *synthetic;
      auto it = by_key.find(m.task + "|" + m.precision + "|" + m.metric);
      if (it != by_key.end()) {
        const ComparisonRecord& c = *it->second;
        j["delta"] = {{"reference", c.reference_precision}, {"value", c.delta}, {"ci95", {c.ci_low, c.ci_high}},
                      {"method", c.method}};
        if (c.p_value) j["delta"]["p_value"] = *c.p_value;
      }
      out.push_back(j);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("run %lld (%s, %s on %s)\n", static_cast<long long>(run.id), run.model_path.c_str(),
              RunStatusName(run.status), run.device.c_str());
  if (synthetic) std::printf("note: %s\n", synthetic->c_str());
  std::printf("%-11s %-12s %-16s %14s %11s %8s   %s\n", "task", "precision", "metric", "value", "stderr", "n",
              "delta vs reference [95% interval]");
  for (const auto& m : metrics) {
    std::string delta;
    auto it = by_key.find(m.task + "|" + m.precision + "|" + m.metric);
    if (it != by_key.end()) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%+.4g [%+.4g, %+.4g] vs %s", it->second->delta, it->second->ci_low,
                    it->second->ci_high, it->second->reference_precision.c_str());
      delta = buf;
    }
    const std::string se = m.stderr_value ? std::to_string(*m.stderr_value).substr(0, 9) : "-";
    std::printf("%-11s %-12s %-16s %14.6g %11s %8lld   %s\n", m.task.c_str(), m.precision.c_str(), m.metric.c_str(),
                m.value, se.c_str(), static_cast<long long>(m.n), delta.c_str());
  }
  // Paired statistics that have no metric row of the same name (e.g. ln_ppl_ratio, accuracy deltas).
  for (const auto& c : comparisons) {
    bool has_metric = false;
    for (const auto& m : metrics) has_metric |= m.task == c.task && m.precision == c.precision && m.metric == c.metric;
    if (has_metric) continue;
    std::printf("%-11s %-12s %-16s %14s %11s %8s   %+.4g [%+.4g, %+.4g] vs %s\n", c.task.c_str(), c.precision.c_str(),
                c.metric.c_str(), "", "", "", c.delta, c.ci_low, c.ci_high, c.reference_precision.c_str());
  }
  return 0;
}

// Two runs: B - A for every metric both hold; the interval treats the runs as independent (normal, from the
// stored standard errors) because two runs need not share items.
Result<int> CompareTwoRuns(ResultStore& store, const RunRecord& a, const RunRecord& b, bool json) {
  FP4LAB_ASSIGN_OR_RETURN(auto ma, store.ListMetrics(a.id));
  FP4LAB_ASSIGN_OR_RETURN(auto mb, store.ListMetrics(b.id));
  std::map<std::string, const MetricRecord*> in_a;
  for (const auto& m : ma) in_a[m.task + "|" + m.precision + "|" + m.metric] = &m;
  nlohmann::json out = nlohmann::json::array();
  const std::optional<std::string> synthetic_a = SyntheticWeightsNote(a), synthetic_b = SyntheticWeightsNote(b);
  if (!json) {
    std::printf("run %lld -> run %lld (B - A; 95%% interval assumes independent runs)\n",
                static_cast<long long>(a.id), static_cast<long long>(b.id));
    if (synthetic_a) std::printf("note: run %lld: %s\n", static_cast<long long>(a.id), synthetic_a->c_str());
    if (synthetic_b) std::printf("note: run %lld: %s\n", static_cast<long long>(b.id), synthetic_b->c_str());
  }
  for (const auto& m : mb) {
    auto it = in_a.find(m.task + "|" + m.precision + "|" + m.metric);
    if (it == in_a.end()) continue;
    const MetricRecord& old = *it->second;
    const double delta = m.value - old.value;
    const bool has_se = m.stderr_value && old.stderr_value;
    const double se = has_se ? std::sqrt(*m.stderr_value * *m.stderr_value + *old.stderr_value * *old.stderr_value) : 0;
    if (json) {
      nlohmann::json j = MetricJson(m);
      j["baseline"] = MetricJson(old);
      if (synthetic_b) j["synthetic_weights"] = *synthetic_b;
      if (synthetic_a) j["baseline"]["synthetic_weights"] = *synthetic_a;
      j["delta"] = {{"value", delta}};
      if (has_se) j["delta"]["ci95"] = {delta - 1.96 * se, delta + 1.96 * se};
      out.push_back(j);
    } else {
      std::printf("%-11s %-12s %-16s %14.6g -> %-14.6g %+.4g", m.task.c_str(), m.precision.c_str(), m.metric.c_str(),
                  old.value, m.value, delta);
      if (has_se) std::printf(" [%+.4g, %+.4g]", delta - 1.96 * se, delta + 1.96 * se);
      std::printf("\n");
    }
  }
  if (json) std::cout << out.dump(2) << "\n";
  return 0;
}

Result<int> RunCompare(const CompareFlags& f) {
  if (f.runs.size() > 2) return Status::InvalidArgument("compare takes at most two run ids");
  FP4LAB_ASSIGN_OR_RETURN(auto store, ResultStore::Open(f.db, OpenMode::kReadOnly));
  if (f.runs.size() == 2) {
    FP4LAB_ASSIGN_OR_RETURN(RunRecord a, SelectRun(*store, f.runs[0]));
    FP4LAB_ASSIGN_OR_RETURN(RunRecord b, SelectRun(*store, f.runs[1]));
    WarnIfIncomplete(a);
    WarnIfIncomplete(b);
    return CompareTwoRuns(*store, a, b, f.json);
  }
  std::optional<int64_t> id;
  if (!f.runs.empty()) id = f.runs[0];
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, SelectRun(*store, id));
  WarnIfIncomplete(run);
  return CompareOneRun(*store, run, f.json);
}

}  // namespace

Command AddCompareCommand(CLI::App& root) {
  auto f = std::make_shared<CompareFlags>();
  CLI::App* app = root.add_subcommand(
      "compare", "Print each metric per precision with its delta vs the bf16 reference and 95% interval "
                 "(newest complete run by default); with two run ids, their metrics side by side");
  app->add_option("--db", f->db, "SQLite result file")->capture_default_str();
  app->add_option("runs", f->runs, "RUN_A [RUN_B]");
  app->add_flag("--json", f->json, "A list of {run, task, precision, metric, value, stderr, n, delta} objects");
  return {app, [f] { return RunCompare(*f); }};
}

}  // namespace fp4lab
