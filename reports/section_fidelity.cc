// Perplexity & fidelity: perplexity per precision (with its convention), the fidelity statistics of each
// candidate against the reference logits (KLD percentiles, top-1 agreement, Δp), a top-1 agreement chart and
// a KLD histogram summed from the samples' per-item histogram counts.
#include <algorithm>
#include <array>

#include "reports/report_format.h"
#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

constexpr std::array<const char*, 10> kFidelityOrder = {"kld_mean",    "kld_median",  "kld_p90",    "kld_p99",
                                                        "kld_p999",    "kld_max",     "same_top_p", "delta_p_mean",
                                                        "delta_p_rms", "ln_ppl_ratio"};

std::vector<Block> PerplexityBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  std::vector<MetricName> names = MetricNames(run, [](const MetricRecord& m) { return m.task == "perplexity"; });
  if (names.empty()) return blocks;
  std::vector<std::string> conventions;
  for (const TaskRecord& task : run.tasks) {
    if (task.task != "perplexity") continue;
    auto convention = task.config.find("convention");
    const std::string text = convention == task.config.end() ? "not recorded" : JsonText(*convention);
    if (std::find(conventions.begin(), conventions.end(), text) == conventions.end()) conventions.push_back(text);
  }
  if (conventions.size() == 1) {
    blocks.push_back(Paragraph{"Perplexity convention: " + conventions[0] + " (every precision)."});
  } else if (conventions.size() > 1) {
    std::string list;
    for (const std::string& c : conventions) list += (list.empty() ? "" : ", ") + c;
    blocks.push_back(Paragraph{
        "Precisions used different perplexity conventions (" + list + "); their perplexities are not comparable.",
        Tone::kWorse});
  }
  const std::string reference = ReferencePrecision(run);
  Table table{"Perplexity", {"Metric", "Precision", "Value", "n", "Δ vs " + reference, "95% interval", "Change"}, {}};
  for (const MetricName& name : names) {
    for (const std::string& precision : RunPrecisions(run)) {
      const MetricRecord* m = FindMetric(run, name.task, precision, name.metric);
      if (m == nullptr) continue;
      DeltaCells delta = CompareToReference(run, *m);
      table.rows.push_back({TextCell(m->metric), TextCell(precision), MetricValueCell(*m),
                            NumberCell(std::to_string(m->n), static_cast<double>(m->n)), delta.delta, delta.interval,
                            delta.change});
    }
  }
  blocks.push_back(std::move(table));
  // Paired statistics stored without a per-precision value (e.g. ln_ppl_ratio = mean ln(PPL_q / PPL_ref)).
  Table paired{"Paired statistics vs " + reference + " without a per-precision value",
               {"Statistic", "Precision", "Value", "95% interval", "Method"},
               {}};
  for (const ComparisonRecord& c : run.comparisons) {
    if (c.task != "perplexity" || FindMetric(run, c.task, c.precision, c.metric) != nullptr) continue;
    paired.rows.push_back(
        {TextCell(c.metric), TextCell(c.precision), NumberCell(FormatSignedSignificant(c.delta), c.delta),
         TextCell("[" + FormatSignedSignificant(c.ci_low) + ", " + FormatSignedSignificant(c.ci_high) + "]"),
         TextCell(c.method)});
  }
  if (!paired.rows.empty()) blocks.push_back(std::move(paired));
  return blocks;
}

// Sums data["kld_hist"] over the samples of one precision into `histogram`; counts the samples seen (`total`)
// and those with a histogram (`with_hist`, 0 leaves `histogram` empty). InvalidArgument on malformed counts/edges.
Status SumHistograms(const RunReportData& run, const std::string& precision, Histogram* histogram, size_t* with_hist,
                     size_t* total) {
  for (const SampleRecord& s : run.fidelity_samples) {
    if (s.precision != precision) continue;
    ++*total;
    auto hist = s.data.find("kld_hist");
    if (hist == s.data.end()) continue;
    const std::string where = "fidelity sample '" + s.sample_id + "' (" + precision + ")";
    auto edges = s.data.find("kld_bin_edges");
    if (!hist->is_array() || edges == s.data.end() || !edges->is_array()) {
      return Status::InvalidArgument(where + ": kld_hist and kld_bin_edges must both be arrays of numbers");
    }
    // Closed bins between the edges (counts = edges - 1), or the runner's open-ended form with an underflow
    // and an overflow bin (counts = edges + 1).
    const bool open_ends = hist->size() == edges->size() + 1;
    if (!open_ends && edges->size() != hist->size() + 1) {
      return Status::InvalidArgument(where + ": kld_hist has " + std::to_string(hist->size()) +
                                     " counts but kld_bin_edges has " + std::to_string(edges->size()) +
                                     " edges; expected " + std::to_string(hist->size() + 1) + " (closed bins) or " +
                                     std::to_string(hist->size() - 1) + " (open-ended)");
    }
    std::vector<double> sample_edges;
    for (const auto& e : *edges) {
      if (!e.is_number()) return Status::InvalidArgument(where + ": kld_bin_edges holds " + e.dump());
      sample_edges.push_back(e.get<double>());
    }
    if (*with_hist == 0) {
      histogram->edges = sample_edges;
      histogram->counts.assign(hist->size(), 0.0);
      histogram->open_ends = open_ends;
    } else if (sample_edges != histogram->edges || open_ends != histogram->open_ends) {
      return Status::InvalidArgument(where + ": kld_bin_edges differ from the first sample's; bins must be fixed");
    }
    for (size_t i = 0; i < hist->size(); ++i) {
      const auto& c = (*hist)[i];
      if (!c.is_number() || c.get<double>() < 0) {
        return Status::InvalidArgument(where + ": kld_hist[" + std::to_string(i) + "] is " + c.dump() +
                                       ", expected a count >= 0");
      }
      histogram->counts[i] += c.get<double>();
    }
    ++*with_hist;
  }
  return Status::Ok();
}

Result<std::vector<Block>> FidelityBlocks(const RunReportData& run) {
  std::vector<Block> blocks;
  const std::vector<std::string> candidates =
      PrecisionsWith(run, [](const MetricRecord& m) { return m.task == "fidelity"; });
  if (candidates.empty()) return blocks;
  const std::string reference = ReferencePrecision(run);
  std::vector<MetricName> names = MetricNames(run, [](const MetricRecord& m) { return m.task == "fidelity"; });
  std::stable_sort(names.begin(), names.end(), [](const MetricName& a, const MetricName& b) {
    auto rank = [](const std::string& metric) {
      return std::find(kFidelityOrder.begin(), kFidelityOrder.end(), metric) - kFidelityOrder.begin();
    };
    return rank(a.metric) < rank(b.metric);
  });
  Table table{"Fidelity vs " + reference + " logits on identical tokens", {"Metric"}, {}};
  for (const std::string& precision : candidates) table.columns.push_back(precision);
  for (const MetricName& name : names) {
    std::vector<Cell> row = {TextCell(name.metric)};
    for (const std::string& precision : candidates) {
      const MetricRecord* m = FindMetric(run, "fidelity", precision, name.metric);
      row.push_back(m ? MetricValueCell(*m) : MissingCell());
    }
    table.rows.push_back(std::move(row));
  }
  blocks.push_back(std::move(table));

  BarChart agreement{"Top-1 agreement with " + reference + " (same argmax token)", "%", {}, {}};
  for (const std::string& precision : candidates) {
    const MetricRecord* m = FindMetric(run, "fidelity", precision, "same_top_p");
    if (m == nullptr) continue;
    const std::optional<double> percent = AsPercent(m->metric, m->unit, m->value);
    if (!percent) continue;
    agreement.series.push_back(precision);
    agreement.bars.push_back(Bar{precision, *percent, FormatMetricValue(m->metric, m->unit, m->value),
                                 static_cast<int>(agreement.series.size() - 1)});
  }
  if (!agreement.bars.empty()) blocks.push_back(std::move(agreement));

  for (const std::string& precision : candidates) {
    Histogram histogram{"KLD per token, " + precision + " vs " + reference, "KL divergence (nats), bin edges", {}, {}};
    size_t with_hist = 0;
    size_t total = 0;
    FP4LAB_RETURN_IF_ERROR(SumHistograms(run, precision, &histogram, &with_hist, &total));
    if (with_hist == 0) {
      blocks.push_back(Paragraph{"KLD histogram for " + precision + " not shown: its " + std::to_string(total) +
                                     " fidelity samples carry no per-sample histogram (data[\"kld_hist\"]).",
                                 Tone::kMuted});
      continue;
    }
    double tokens = 0;
    for (double c : histogram.counts) tokens += c;
    if (with_hist < total) {
      blocks.push_back(Paragraph{"KLD histogram for " + precision + " sums " + std::to_string(with_hist) + " of " +
                                     std::to_string(total) + " samples (the others carry no histogram).",
                                 Tone::kMuted});
    }
    histogram.title += " (" + FormatCount(tokens) + " tokens)";
    blocks.push_back(std::move(histogram));
  }
  return blocks;
}

}  // namespace

Result<Section> BuildPerplexityFidelitySection(const ReportData& data) {
  Section section{"perplexity-fidelity", "Perplexity & fidelity", true, {}};
  FP4LAB_RETURN_IF_ERROR(AddPerRunBlocks(data, &section, [](const RunReportData& run) -> Result<std::vector<Block>> {
    std::vector<Block> blocks = PerplexityBlocks(run);
    FP4LAB_ASSIGN_OR_RETURN(std::vector<Block> fidelity, FidelityBlocks(run));
    for (Block& b : fidelity) blocks.push_back(std::move(b));
    return blocks;
  }));
  return section;
}

}  // namespace fp4lab
