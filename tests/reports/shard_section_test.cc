// The device section of a run merged from shards: one row per shard naming its host and device, each rank's
// samples/s from its recorded evaluation time, and the run's parallel efficiency (summed rank time over n x the
// busiest rank's), worked out by hand below. Runs that were not merged show no shard blocks.
#include <algorithm>

#include <gtest/gtest.h>

#include "reports/report_sections.h"
#include "reports/section_util.h"

namespace fp4lab {
namespace {

nlohmann::json Shard(const std::string& shard, const std::string& device, int64_t samples, double eval_seconds,
                     int64_t evaluated) {
  nlohmann::json s = {{"shard", shard},     {"host", "node7"},       {"device", device},
                      {"device_name", "GPU"}, {"cuda_visible_devices", "3"}, {"samples", samples}};
  if (eval_seconds > 0) s["timing"] = {{"eval_seconds", eval_seconds}, {"samples_evaluated", evaluated}};
  s["placement"] = {{"source", "slurm"}, {"rank", std::stoi(shard)}, {"local_rank", 0}};
  return s;
}

ReportData MergedRun(nlohmann::json shards) {
  ReportData data;
  RunReportData run;
  run.run.id = 4;
  run.run.device = "cuda:0";
  run.run.provenance["shards"] = std::move(shards);
  MetricRecord m;
  m.task = "perplexity";
  m.precision = "bf16";
  m.metric = "token_ppl";
  run.metrics.push_back(m);
  data.runs.push_back(run);
  return data;
}

std::vector<std::string> Texts(const Section& section) {
  std::vector<std::string> out;
  for (const Block& block : section.blocks) {
    if (const auto* p = std::get_if<Paragraph>(&block)) out.push_back(p->text);
    if (const auto* h = std::get_if<Heading>(&block)) out.push_back(h->text);
  }
  return out;
}

const Table* ShardTable(const Section& section) {
  for (const Block& block : section.blocks) {
    const auto* t = std::get_if<Table>(&block);
    if (t != nullptr && t->caption.find("which shard") != std::string::npos) return t;
  }
  return nullptr;
}

TEST(ShardSectionTest, ThroughputPerRankAndParallelEfficiency) {
  // Rank 0: 30 samples in 3 s (10/s, busy 3 s). Rank 1 was resumed: only its last session, 10 samples in 5 s, was
  // timed (2/s), so its 20 samples take an estimated 10 s. Together: 50 samples in 10 s = 5.0/s; efficiency
  // (3 + 10) / (2 x 10) = 65%.
  auto section =
      BuildDevicesSection(MergedRun({Shard("0/2", "cuda:0", 30, 3.0, 30), Shard("1/2", "cuda:1", 20, 5.0, 10)}));
  ASSERT_TRUE(section.ok()) << section.status().ToString();
  const Table* table = ShardTable(*section);
  ASSERT_NE(table, nullptr);
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_EQ(table->rows[1][0].text, "1/2");
  EXPECT_EQ(table->rows[1][1].text, "node7");
  EXPECT_EQ(table->rows[1][2].text, "cuda:1");
  EXPECT_EQ(table->rows[1][3].text, "3");
  EXPECT_EQ(table->rows[1][5].text, "slurm rank 1, local 0");
  EXPECT_EQ(table->rows[0][7].text, "3.00");
  EXPECT_EQ(table->rows[0][8].text, "10.0");
  EXPECT_EQ(table->rows[1][7].text, "10.00");
  EXPECT_EQ(table->rows[1][8].text, "2.0");
  const std::vector<std::string> texts = Texts(*section);
  ASSERT_FALSE(texts.empty());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "Shards of run #4 (2 processes, merged)"), texts.end());
  const std::string& scaling = texts.back();
  EXPECT_NE(scaling.find("50 samples in 10.0 s"), std::string::npos) << scaling;
  EXPECT_NE(scaling.find("5.0 samples/s together"), std::string::npos) << scaling;
  EXPECT_NE(scaling.find("Parallel efficiency 65%"), std::string::npos) << scaling;
}

TEST(ShardSectionTest, UntimedShardIsSaidNotMeasured) {
  auto section = BuildDevicesSection(MergedRun({Shard("0/2", "cpu", 30, 3.0, 30), Shard("1/2", "cpu", 20, 0, 0)}));
  ASSERT_TRUE(section.ok());
  const Table* table = ShardTable(*section);
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->rows[1][8].text, MissingCell().text);
  EXPECT_NE(Texts(*section).back().find("not measured (shard 1/2"), std::string::npos) << Texts(*section).back();
}

TEST(ShardSectionTest, RunsThatWereNotMergedShowNoShards) {
  ReportData data = MergedRun(nlohmann::json::array());
  data.runs[0].run.provenance.erase("shards");
  auto section = BuildDevicesSection(data);
  ASSERT_TRUE(section.ok());
  EXPECT_EQ(ShardTable(*section), nullptr);
  EXPECT_TRUE(BuildShardBlocks(data).empty());
}

}  // namespace
}  // namespace fp4lab
