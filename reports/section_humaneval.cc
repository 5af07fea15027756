// HumanEval and the evalplus suites (HumanEval+, MBPP+), one table each: pass@k per precision and the problems whose
// pass rate changed between the reference and each candidate (samples grouped by problem: data["task_id"], else the sample id before '#'; a draw passed when its
// stored outcome is "passed"; with one draw per problem this is the plain passed/failed flip).
#include <algorithm>
#include <map>

#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

// One problem's draws under one precision.
struct ProblemOutcome {
  int passed = 0;
  int draws = 0;
  std::string outcome;  // the outcome of a single draw ("passed", "failed", "timed_out", ...)
};

// The problem a sample belongs to: data["task_id"] when stored, else the sample id up to '#' ("HumanEval/3#0").
std::string ProblemOf(const SampleRecord& s) {
  auto task_id = s.data.find("task_id");
  if (task_id != s.data.end() && task_id->is_string()) return task_id->get<std::string>();
  return s.sample_id.substr(0, s.sample_id.find('#'));
}

std::map<std::string, ProblemOutcome> OutcomesOf(const RunReportData& run, const std::string& suite,
                                                 const std::string& precision) {
  std::map<std::string, ProblemOutcome> out;
  for (const SampleRecord& s : run.humaneval_samples) {
    if (s.task != suite || s.precision != precision) continue;
    ProblemOutcome& p = out[ProblemOf(s)];
    ++p.draws;
    if (s.outcome == "passed") ++p.passed;
    p.outcome = s.outcome.empty() ? "(no outcome)" : s.outcome;
  }
  return out;
}

std::string OutcomeText(const ProblemOutcome& p) {
  if (p.draws == 1) return p.outcome;
  return std::to_string(p.passed) + "/" + std::to_string(p.draws) + " passed";
}

// Compares pass rates passed/draws exactly (cross-multiplied): < 0 lower, 0 same, > 0 higher.
int64_t RateDifference(const ProblemOutcome& candidate, const ProblemOutcome& reference) {
  return static_cast<int64_t>(candidate.passed) * reference.draws -
         static_cast<int64_t>(reference.passed) * candidate.draws;
}

void AddFlips(const RunReportData& run, const std::string& suite, const std::string& candidate,
              std::vector<Block>* blocks) {
  const std::string reference = ReferencePrecision(run);
  const auto ref = OutcomesOf(run, suite, reference);
  const auto cand = OutcomesOf(run, suite, candidate);
  if (ref.empty() || cand.empty()) {
    blocks->push_back(Paragraph{"Per-problem outcomes of " + candidate + " vs " + reference +
                                    ": not stored in this run (no samples for " +
                                    (ref.empty() ? reference : candidate) + ").",
                                Tone::kMuted});
    return;
  }
  Table table{"Problems whose outcome changed, " + candidate + " vs " + reference,
              {"Problem", reference, candidate, "Change"},
              {}};
  std::vector<std::vector<Cell>> fixes;
  size_t shared = 0;
  size_t unchanged = 0;
  for (const auto& [problem, r] : ref) {
    auto it = cand.find(problem);
    if (it == cand.end()) continue;
    ++shared;
    const int64_t difference = RateDifference(it->second, r);
    if (difference == 0) {
      ++unchanged;
      continue;
    }
    std::vector<Cell> row = {
        TextCell(problem), TextCell(OutcomeText(r)), TextCell(OutcomeText(it->second)),
        difference < 0 ? TextCell("▼ regression (worse)", Tone::kWorse) : TextCell("▲ fixed (better)", Tone::kBetter)};
    (difference < 0 ? table.rows : fixes).push_back(std::move(row));
  }
  const size_t regressions = table.rows.size();
  for (auto& row : fixes) table.rows.push_back(std::move(row));
  std::string summary = candidate + " vs " + reference + " on " + std::to_string(shared) +
                        " shared problems: " + std::to_string(regressions) +
                        (regressions == 1 ? " regression" : " regressions") + " (▼ pass rate down), " +
                        std::to_string(fixes.size()) + (fixes.size() == 1 ? " fix" : " fixes") + " (▲ pass rate up), " +
                        std::to_string(unchanged) + " unchanged.";
  const size_t unmatched = ref.size() + cand.size() - 2 * shared;
  if (unmatched > 0) {
    summary += " " + std::to_string(unmatched) + (unmatched == 1 ? " problem" : " problems") +
               " ran under only one precision.";
  }
  blocks->push_back(Paragraph{summary, regressions > fixes.size() ? Tone::kWorse : Tone::kNeutral});
  if (!table.rows.empty()) blocks->push_back(std::move(table));
}

// The table title of a suite: "HumanEval", "HumanEval+", "MBPP+".
std::string SuiteTitle(const std::string& suite) {
  if (suite == "humaneval") return "HumanEval";
  if (suite == "humaneval+") return "HumanEval+";
  return "MBPP+";
}

void AddSuiteBlocks(const RunReportData& run, const std::string& suite, std::vector<Block>* blocks) {
  const std::vector<MetricName> names = MetricNames(run, [&suite](const MetricRecord& m) { return m.task == suite; });
  const bool has_samples = std::any_of(run.humaneval_samples.begin(), run.humaneval_samples.end(),
                                       [&suite](const SampleRecord& s) { return s.task == suite; });
  if (names.empty() && !has_samples) return;
  const std::string reference = ReferencePrecision(run);
  if (!names.empty()) {
    Table table{SuiteTitle(suite),
                {"Metric", "Precision", "Value", "n", "Δ vs " + reference, "95% interval", "Change", "Paired flips"},
                {}};
    for (const MetricName& name : names) {
      for (const std::string& p : RunPrecisions(run)) {
        const MetricRecord* m = FindMetric(run, suite, p, name.metric);
        if (m == nullptr) continue;
        DeltaCells delta = CompareToReference(run, *m);
        table.rows.push_back(
            {TextCell(m->metric), TextCell(p), MetricValueCell(*m),
             NumberCell(std::to_string(m->n), static_cast<double>(m->n)), delta.delta, delta.interval, delta.change,
             TextCell(FlipText(FindComparison(run, suite, p, m->metric), "passed→failed", "failed→passed"))});
      }
    }
    blocks->push_back(std::move(table));
  }
  for (const std::string& p : RunPrecisions(run)) {
    if (p == reference) continue;
    const bool ran = std::any_of(run.tasks.begin(), run.tasks.end(),
                                 [&](const TaskRecord& t) { return t.task == suite && t.precision == p; });
    if (ran) AddFlips(run, suite, p, blocks);
  }
}

std::vector<Block> HumanEvalBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  for (const char* suite : kCodeSuiteTasks) AddSuiteBlocks(run, suite, &blocks);
  return blocks;
}

}  // namespace

Result<Section> BuildHumanEvalSection(const ReportData& data) {
  Section section{"humaneval", "HumanEval", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(
      data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> { return HumanEvalBlocks(run); }));
  return section;
}

}  // namespace fp4lab
