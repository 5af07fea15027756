// One model resident at a time (harness/runner.h): a run over three precisions peaks at the memory of one model,
// measured by the run itself (provenance "memory", the process's peak RSS on the CPU) through the real binary.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/cli_util.h"
#include "results/result_store.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using testing::RunFp4lab;
using testing::TempDir;

// A Llama of 8 layers x 3.4M + 2 x 2.1M embedding/lm_head = 31M parameters: each precision holds tens of MB of
// weights (63 MB in bf16, 24 MB in NVFP4), more than the process's peak RSS can drift by otherwise.
nlohmann::json LargeEnoughConfig() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", 512},
          {"intermediate_size", 1536},
          {"num_hidden_layers", 8},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 8},
          {"vocab_size", 4096},
          {"max_position_embeddings", 64},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"tie_word_embeddings", false}};
}

// The run's provenance "memory" of `fp4lab bench --config <the config above>` at `precisions` on the CPU.
nlohmann::json BenchMemory(const std::string& dir, const std::string& precisions) {
  const std::string config = dir + "/config.json";
  std::ofstream(config) << LargeEnoughConfig().dump();
  const std::string db = dir + "/" + precisions + ".sqlite";
  // Under AddressSanitizer (the test build, docs/RELIABILITY.md) freed memory waits in a quarantine of up to 256 MB
  // before it is reused or unmapped, so it would hold each earlier model's weights and measure the sanitizer instead
  // of fp4lab. The quarantine is turned off for this one process; an uninstrumented binary ignores the variable.
  const auto r = RunFp4lab("bench --config " + config + " --precisions " + precisions + " --device cpu " +
                           "--prompt-lengths 8 --batches 1 --decode-tokens 2 --decode-prompt 4 --repetitions 1 " +
                           "--warmup 0 --db " + db,
                           "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  const auto runs = (*store)->ListRuns();
  EXPECT_TRUE(runs.ok() && runs->size() == 1u);
  if (!runs.ok() || runs->empty()) return nullptr;
  return runs->front().provenance.value("memory", nlohmann::json::object());
}

TEST(ResidentCli, ThreePrecisionsPeakAtOneModelNotThree) {
  const std::string dir = TempDir("resident_cli");
  const nlohmann::json alone = BenchMemory(dir, "bf16");
  const nlohmann::json three = BenchMemory(dir, "bf16,nvfp4-w4a16,nvfp4");
  ASSERT_TRUE(alone.contains("peak_bytes") && three.contains("peak_bytes")) << alone.dump() << three.dump();
  // bf16 is the largest of the three. Resident together, the two NVFP4 models would add at least their weights to
  // the peak of bf16 alone; one at a time, the three-precision run peaks where bf16 alone does, up to less than
  // either NVFP4 model.
  const int64_t excess = three["peak_bytes"].get<int64_t>() - alone["peak_bytes"].get<int64_t>();
  for (const char* precision : {"nvfp4-w4a16", "nvfp4"}) {
    ASSERT_TRUE(three["precisions"].contains(precision)) << three.dump();
    const int64_t weights = three["precisions"][precision]["weight_device_bytes"].get<int64_t>();
    EXPECT_GT(weights, int64_t{20} << 20) << precision;  // the premise: each later model is large
    EXPECT_LT(excess, weights) << precision << ": alone " << alone.dump() << ", three " << three.dump();
  }
  EXPECT_EQ(three["resident"], alone["resident"]);
}

}  // namespace
}  // namespace fp4lab
