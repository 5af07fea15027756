// Runs merged from shards (provenance["shards"], written by harness/merge.cc): which device ran which shard, each
// rank's throughput, and how well the work was spread over the ranks. Shown inside the device section.
#include <algorithm>
#include <cstdio>

#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// A shard's measured evaluation: samples per second over the sessions that finished (harness/run_timing.h).
struct ShardSpeed {
  int64_t samples = 0;           // samples the shard holds
  std::optional<double> rate;    // samples/s, when timed
  std::optional<double> busy_s;  // time to evaluate all its samples at that rate
};

ShardSpeed SpeedOf(const nlohmann::json& shard) {
  ShardSpeed s;
  s.samples = shard.value("samples", int64_t{0});
  const nlohmann::json timing = shard.value("timing", nlohmann::json::object());
  const double seconds = timing.value("eval_seconds", 0.0);
  const int64_t evaluated = timing.value("samples_evaluated", int64_t{0});
  if (seconds > 0 && evaluated > 0) {
    s.rate = evaluated / seconds;
    s.busy_s = s.samples / *s.rate;
  }
  return s;
}

std::string Launcher(const nlohmann::json& shard) {
  if (!shard.contains("placement")) return "--shard " + shard.value("shard", "?");
  const nlohmann::json& p = shard["placement"];
  return p.value("source", "?") + " rank " + JsonText(p.value("rank", nlohmann::json())) +
         (p.contains("local_rank") && !p["local_rank"].is_null() ? ", local " + JsonText(p["local_rank"]) : "");
}

std::string ScalingText(const nlohmann::json& shards) {
  const size_t n = shards.size();
  double busiest = 0, total = 0;
  int64_t samples = 0;
  for (const auto& shard : shards) {
    const ShardSpeed s = SpeedOf(shard);
    if (!s.busy_s) {
      return "Scaling: not measured (shard " + shard.value("shard", "?") + " recorded no evaluation time).";
    }
    busiest = std::max(busiest, *s.busy_s);
    total += *s.busy_s;
    samples += s.samples;
  }
  if (busiest <= 0) return "Scaling: not measured (no samples).";
  return "Scaling: " + std::to_string(n) + " processes evaluated " + std::to_string(samples) + " samples in " +
         Fixed(busiest, 1) + " s (the busiest rank), " + Fixed(samples / busiest, 1) +
         " samples/s together. Parallel efficiency " + Fixed(100.0 * total / (n * busiest), 0) +
         "% = the ranks' summed evaluation time / (" + std::to_string(n) +
         " x the busiest rank's): how evenly the work was spread. Model loading is not included, and contention "
         "between ranks sharing a machine shows only as lower samples/s per rank; compare with a one-process run "
         "for the speedup.";
}

}  // namespace

std::vector<Block> BuildShardBlocks(const ReportData& data) {
  std::vector<Block> blocks;
  for (const RunReportData& run : data.runs) {
    const nlohmann::json shards = run.run.provenance.value("shards", nlohmann::json::array());
    if (!shards.is_array() || shards.empty()) continue;
    blocks.push_back(Heading{"Shards of run #" + std::to_string(run.run.id) + " (" + std::to_string(shards.size()) +
                             " processes, merged)"});
    Table table{"Which device ran which shard, and how fast",
                {"Shard", "Host", "Device", "CUDA_VISIBLE_DEVICES", "Device name", "Launcher", "Samples",
                 "Eval time (s)", "Samples/s"},
                {}};
    for (const auto& shard : shards) {
      const ShardSpeed s = SpeedOf(shard);
      table.rows.push_back({TextCell(shard.value("shard", "?")), TextCell(shard.value("host", "")),
                            TextCell(shard.value("device", "")), TextCell(shard.value("cuda_visible_devices", "—")),
                            TextCell(shard.value("device_name", "")), TextCell(Launcher(shard)),
                            NumberCell(std::to_string(s.samples), static_cast<double>(s.samples)),
                            s.busy_s ? NumberCell(Fixed(*s.busy_s, 2), *s.busy_s) : MissingCell(),
                            s.rate ? NumberCell(Fixed(*s.rate, 1), *s.rate) : MissingCell()});
    }
    blocks.push_back(std::move(table));
    blocks.push_back(Paragraph{ScalingText(shards)});
  }
  return blocks;
}

}  // namespace fp4lab
