#include "harness/progress.h"

#include <gtest/gtest.h>

#include "harness/cli_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

TEST(ProgressTest, LineShowsItemsRatesTokensAndEta) {
  // 120 of 480 items in 10 s: 12 items/s, so 360 left take 30 s; 81234 forward and 512 generated tokens.
  EXPECT_EQ(FormatProgress("mmlu/bf16", 120, 480, 10.0, {81234, 512}),
            "[mmlu/bf16] 120/480 items, 12.0 items/s, 8123 forward tok/s, 51 generated tok/s, ETA 30s");
  // Nothing measured yet: no rates, no ETA.
  EXPECT_EQ(FormatProgress("humaneval/nvfp4", 0, 164, 0.0, {}), "[humaneval/nvfp4] 0/164 items");
  // Finished: no ETA.
  EXPECT_EQ(FormatProgress("t/p", 4, 4, 2.0, {}), "[t/p] 4/4 items, 2.0 items/s, 0 forward tok/s, 0 generated tok/s");
}

TEST(ProgressTest, DoneLineTotalsTokensWithTheirRates) {
  EXPECT_EQ(FormatProgressDone("mmlu/bf16", 14042, 400.0, {2100000, 0}),
            "[mmlu/bf16] done: 14042 items in 6m40s, 2.1M forward tokens (5250 tok/s), 0 generated");
  EXPECT_EQ(FormatProgressDone("x/y", 3, 0.5, {850, 12000000}),
            "[x/y] done: 3 items in 1s, 850 forward tokens (1700 tok/s), 12.0M generated (24000000 tok/s)");
}

TEST(ProgressTest, DurationsReadAsSecondsMinutesOrHours) {
  EXPECT_EQ(FormatDuration(0.4), "0s");
  EXPECT_EQ(FormatDuration(59.4), "59s");
  EXPECT_EQ(FormatDuration(365), "6m05s");
  EXPECT_EQ(FormatDuration(7380), "2h03m");
}

TEST(ProgressTest, RunPrintsTokenThroughputUnlessJson) {
  const std::string dir = testing::TempDir("progress_cli");
  const std::string args =
      "run --report \"\" --tasks mmlu --precisions bf16 --limit 1 --mmlu-subjects world_religions ";
  const auto plain = testing::RunFp4lab(args + "--db " + dir + "/plain.sqlite");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("[mmlu/bf16] done: 1 items in "), std::string::npos) << plain.output;
  EXPECT_NE(plain.output.find(" forward tokens ("), std::string::npos) << plain.output;
  const auto json = testing::RunFp4lab(args + "--json --db " + dir + "/json.sqlite");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_EQ(json.output.find("[mmlu/bf16]"), std::string::npos) << json.output;
}

}  // namespace
}  // namespace fp4lab
