// `fp4lab bench` on the CPU with the tiny preset: the llama-bench-like table, the JSON form, what lands in the
// result store (metrics, device facts, NVFP4 path), and bad input (exit codes via Status).
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/file_util.h"
#include "engine/presets.h"

#include "harness/command.h"
#include "results/result_store.h"
#include "test_util.h"

namespace fp4lab {

// harness/cmd_bench.cc (declared in harness/command.h once the CLI registers it).
Command AddBenchCommand(CLI::App& root);

namespace {

using testing::SourcePath;
using testing::TempDir;

struct Outcome {
  Result<int> result = Status::Internal("not run");
  std::string out;
};

// Parses `args` (after "fp4lab") and runs the bench command in-process, capturing stdout.
Outcome RunBench(std::vector<std::string> args) {
  CLI::App app{"fp4lab"};
  Command command = AddBenchCommand(app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses a reversed vector
  Outcome outcome;
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    outcome.result = Status::InvalidArgument(std::string("parse error: ") + e.what());
    return outcome;
  }
  ::testing::internal::CaptureStdout();
  outcome.result = command.run();
  outcome.out = ::testing::internal::GetCapturedStdout();
  return outcome;
}

struct Captured {
  int status = -1;  // pclose's wait status
  std::string out;
};

// Runs a shell command and captures its stdout.
Captured Capture(const std::string& command) {
  Captured captured;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return captured;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) captured.out.append(buffer, n);
  captured.status = pclose(pipe);
  return captured;
}

std::vector<std::string> TinyArgs(const std::string& db) {
  return {"bench", "--preset", "tiny", "--precisions", "bf16,nvfp4-w4a16,nvfp4", "--prompt-lengths", "16,32",
          "--batches", "1,8", "--decode-tokens", "4", "--decode-prompt", "8", "--repetitions", "2", "--warmup", "1",
          "--db", db};
}

TEST(BenchCliTest, TinyPresetPrintsTheTableAndStoresEveryFigure) {
  const std::string db = TempDir("bench_cli_table") + "/bench.sqlite";
  const Outcome outcome = RunBench(TinyArgs(db));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status().ToString();
  EXPECT_EQ(*outcome.result, 0);

  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto runs = (*store)->ListRuns();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  const RunRecord& run = runs->front();
  EXPECT_EQ(run.status, RunStatus::kComplete);
  EXPECT_EQ(run.device, "cpu");
  // One row per precision x test, llama-bench style, with the path each precision's Linears took as the engine
  // recorded it; batch 8 is a row of its own. The tiny preset has 918,144 parameters (2 layers of 196,864,
  // two 2048 x 128 tables and the final norm).
  for (const std::string precision : {"bf16", "nvfp4-w4a16", "nvfp4"}) {
    const nlohmann::json engine = run.provenance["engines"][precision];
    EXPECT_EQ(engine["device"]["kind"], "cpu");
    EXPECT_EQ(engine["synthetic"]["origin"], "preset tiny");
    const std::string path = engine["linear_paths"][precision].get<std::string>();
    const std::string prefix = "| preset tiny | 918.14 K | " + precision + " | " + path + " | cpu | ";
    for (const std::string test : {"pp16", "pp32", "tg4", "tg4 b8"}) {
      // A figure, "mean ± stddev" over the 2 repetitions, starts with a digit.
      const size_t at = outcome.out.find(prefix + test + " | ");
      ASSERT_NE(at, std::string::npos) << prefix << test << "\n" << outcome.out;
      const char first = outcome.out[at + prefix.size() + test.size() + 3];
      EXPECT_TRUE(first >= '0' && first <= '9') << prefix << test << "\n" << outcome.out;
    }
    // Latency per batch: TTFT, three ITL percentiles and the KV cache of B sequences.
    for (const std::string batch : {"1", "8"}) {
      EXPECT_NE(outcome.out.find("| " + precision + " | " + batch + " | "), std::string::npos) << outcome.out;
    }
  }
  EXPECT_NE(outcome.out.find("| precision | batch | TTFT ms | ITL p50 ms"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("| precision | weights | predicted | workspace | peak |"), std::string::npos)
      << outcome.out;
  EXPECT_NE(outcome.out.find("peak: host peak RSS"), std::string::npos) << outcome.out;
  auto metrics = (*store)->ListMetrics(run.id);
  ASSERT_TRUE(metrics.ok());
  std::set<std::string> nvfp4_metrics;
  for (const MetricRecord& m : *metrics) {
    EXPECT_EQ(m.task, "latency");
    if (m.precision == "nvfp4") nvfp4_metrics.insert(m.metric);
    if (m.metric == "prefill_tok_s@16") {
      EXPECT_EQ(m.unit, "tok/s");
      EXPECT_EQ(m.higher_is, "better");
      EXPECT_EQ(m.n, 2);
    }
  }
  EXPECT_EQ(nvfp4_metrics,
            (std::set<std::string>{"prefill_tok_s@16", "prefill_tok_s@32", "decode_tok_s@b1", "ttft_ms", "itl_ms_p50",
                                   "itl_ms_p90", "itl_ms_p99", "decode_tok_s@b8", "ttft_ms@b8", "itl_ms_p50@b8",
                                   "itl_ms_p90@b8", "itl_ms_p99@b8", "weight_bytes", "predicted_weight_bytes",
                                   "kv_cache_bytes", "peak_device_bytes"}));
  auto layers = (*store)->ListLayerPrecisions(run.id);
  ASSERT_TRUE(layers.ok());
  EXPECT_FALSE(layers->empty());
}

TEST(BenchCliTest, JsonHasOneRowPerPrecisionAndTest) {
  const std::string db = TempDir("bench_cli_json") + "/bench.sqlite";
  std::vector<std::string> args = TinyArgs(db);
  args.push_back("--json");
  const Outcome outcome = RunBench(args);
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status().ToString();
  const nlohmann::json json = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(json["rows"].size(), 3u * 4u);  // pp16, pp32, tg4 and tg4 b8, per precision
  EXPECT_EQ(json["device"], "cpu");
  EXPECT_EQ(json["model"], "preset tiny");
  for (const auto& row : json["rows"]) {
    EXPECT_GT(row["tok_s"].get<double>(), 0.0) << row.dump();
    if (row["test"] == "tg4 b8") EXPECT_EQ(row["batch"], 8);
  }
  for (const auto& p : json["precisions"]) {
    EXPECT_GT(p["weight_bytes"].get<double>(), 0.0);
    EXPECT_EQ(p["kv_cache_positions"], 12);  // decode prompt 8 + 4 decode tokens
    ASSERT_EQ(p["batches"].size(), 2u) << p.dump();
    EXPECT_EQ(p["batches"][0]["batch"], 1);
    EXPECT_EQ(p["batches"][1]["batch"], 8);
    for (const auto& b : p["batches"]) {
      EXPECT_GT(b["ttft_ms"].get<double>(), 0.0);
      EXPECT_GT(b["itl_ms_p99"].get<double>(), 0.0);
    }
    // f32 K and V of 12 positions per sequence: batch 8 holds 8 times batch 1's.
    EXPECT_EQ(p["batches"][1]["kv_cache_bytes"].get<double>(), 8 * p["batches"][0]["kv_cache_bytes"].get<double>());
  }
  // NVFP4 weights are smaller than bf16 (same preset): 4.5 vs 16 bits for every Linear but lm_head.
  EXPECT_LT(json["precisions"][2]["weight_bytes"].get<double>(), json["precisions"][0]["weight_bytes"].get<double>());
}

TEST(BenchCliTest, UnknownPresetListsTheValidOnes) {
  const Outcome outcome = RunBench({"bench", "--preset", "llama-4", "--db", TempDir("bench_cli_bad") + "/x.sqlite"});
  ASSERT_FALSE(outcome.result.ok());
  EXPECT_EQ(ExitCodeFor(outcome.result.status()), 2);
  EXPECT_EQ(outcome.result.status().message(), "unknown preset 'llama-4' (valid: " + PresetNames() + ")");
  EXPECT_NE(PresetNames().find("llama-3.1-8b, "), std::string::npos);
}

TEST(BenchCliTest, BadFlagsAreInputErrors) {
  const std::string db = TempDir("bench_cli_flags") + "/x.sqlite";
  const Outcome lengths = RunBench({"bench", "--prompt-lengths", "16,abc", "--db", db});
  ASSERT_FALSE(lengths.result.ok());
  EXPECT_EQ(ExitCodeFor(lengths.result.status()), 2);
  EXPECT_NE(lengths.result.status().message().find("--prompt-lengths: 'abc' is not a positive integer"),
            std::string::npos);
  const Outcome batches = RunBench({"bench", "--batches", "1,0", "--db", db});
  ASSERT_FALSE(batches.result.ok());
  EXPECT_EQ(ExitCodeFor(batches.result.status()), 2);
  EXPECT_NE(batches.result.status().message().find("--batches: '0' is not a positive integer"), std::string::npos)
      << batches.result.status().message();
  const Outcome both = RunBench({"bench", "--preset", "tiny", "--model", "/tmp/x", "--db", db});
  ASSERT_FALSE(both.result.ok());
  EXPECT_NE(both.result.status().message().find("excludes"), std::string::npos) << both.result.status().message();
  const Outcome precision = RunBench({"bench", "--precisions", "int4", "--db", db});
  ASSERT_FALSE(precision.result.ok());
  EXPECT_EQ(ExitCodeFor(precision.result.status()), 2);
}

// A block-diffusion config: bench times the sampler (transformers' default generation settings, as the synthetic
// model has no generation_config.json) and says how many denoising steps its canvases actually took.
TEST(BenchCliTest, DiffusionConfigTimesTheSamplerAndStatesItsSteps) {
  const std::string db = TempDir("bench_cli_diffusion") + "/bench.sqlite";
  const Outcome outcome =
      RunBench({"bench", "--config", testing::FixturePath("diffusiongemma_tiny/config.json"), "--precisions", "bf16",
                "--decode-tokens", "16", "--decode-prompt", "8", "--repetitions", "2", "--warmup", "0", "--db", db});
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status().ToString();
  // One "dg16" row: one canvas of 16 after an 8-token prompt.
  const size_t row = outcome.out.find(" | bf16 | reference | cpu | dg16 | ");
  ASSERT_NE(row, std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("| precision | canvas | canvases | steps/canvas | at max steps | step p50 ms"),
            std::string::npos)
      << outcome.out;
  // Random weights never converge: the one canvas ran all 48 steps (transformers' max_denoising_steps default).
  EXPECT_NE(outcome.out.find("| bf16 | 16 | 1 | 48.00 of 48 | 1.000 | "), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("at most max_denoising_steps = 48"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("here every canvas"), std::string::npos) << outcome.out;
  EXPECT_EQ(outcome.out.find("| precision | batch | TTFT ms"), std::string::npos) << outcome.out;  // no causal decode

  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto metrics = (*store)->ListMetrics(1);
  ASSERT_TRUE(metrics.ok());
  std::map<std::string, MetricRecord> by_name;
  for (const MetricRecord& m : *metrics) by_name[m.metric] = m;
  for (const std::string name : {"diffusion_tok_s", "steps_per_canvas", "canvases_at_max_steps", "step_ms_p50",
                                 "step_ms_p90", "prompt_commit_ms", "ttfc_ms", "tokens_per_forward", "weight_bytes",
                                 "predicted_weight_bytes", "kv_cache_bytes", "self_conditioning_bytes",
                                 "peak_device_bytes"}) {
    EXPECT_EQ(by_name.count(name), 1u) << name;
  }
  // The prediction prices every stored tensor; Model::WeightDeviceBytes counts the Linear and expert buffers but
  // not the norm vectors (7,228 bytes of this tiny config's 1.3 MB; the causal gemma4 family shows the same gap).
  EXPECT_GE(by_name.at("predicted_weight_bytes").value, by_name.at("weight_bytes").value);
  EXPECT_GT(by_name.at("peak_device_bytes").value, by_name.at("weight_bytes").value);  // CPU: the process's peak RSS
  EXPECT_EQ(by_name.count("canvas_commit_ms"), 0u);  // one canvas: nothing committed after the prompt
  EXPECT_EQ(by_name.count("decode_tok_s@b1"), 0u);
  EXPECT_DOUBLE_EQ(by_name.at("steps_per_canvas").value, 48.0);
  EXPECT_DOUBLE_EQ(by_name.at("canvases_at_max_steps").value, 1.0);
  EXPECT_EQ(by_name.at("step_ms_p50").n, 2 * 48);  // every step of both repetitions
  EXPECT_LE(by_name.at("step_ms_p50").value, by_name.at("step_ms_p90").value);
}

// A config whose context admits a prompt far beyond this host's memory: refused with the bytes needed, exit 2.
TEST(BenchCliTest, PromptLengthThatDoesNotFitIsReportedNotCrashed) {
  const std::string dir = TempDir("bench_cli_fit");
  const std::string config = dir + "/config.json";
  FILE* f = std::fopen(config.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 1,
                 "num_attention_heads": 1, "vocab_size": 32000, "max_position_embeddings": 1000000})",
             f);
  std::fclose(f);
  const Outcome outcome = RunBench({"bench", "--config", config, "--precisions", "bf16", "--prompt-lengths",
                                    "1000000", "--db", dir + "/x.sqlite"});
  ASSERT_FALSE(outcome.result.ok());
  EXPECT_EQ(ExitCodeFor(outcome.result.status()), 2);
  EXPECT_NE(outcome.result.status().message().find("prefill of 1000000 tokens needs"), std::string::npos)
      << outcome.result.status().message();
}

// The installed binary: `fp4lab bench` with the same output shape. Skips (saying why) until harness/cli.cc
// registers the command.
TEST(BenchCliTest, BinaryRunsBenchWhenRegistered) {
  const std::string help = Capture(std::string(FP4LAB_EXE) + " bench --help 2>&1").out;
  if (help.find("Measure latency and memory") == std::string::npos) {
    GTEST_SKIP() << "`fp4lab bench` is not registered in harness/cli.cc yet";
  }
  // The help teaches the batch flag and what a batch is.
  EXPECT_NE(help.find("--batches"), std::string::npos) << help;
  EXPECT_NE(help.find("B sequences decoded together"), std::string::npos) << help;
  const std::string dir = TempDir("bench_cli_exe");
  const std::string db = dir + "/bench.sqlite";
  const std::string command = std::string(FP4LAB_EXE) + " bench --preset tiny --precisions nvfp4 --prompt-lengths 16 "
                              "--batches 1,2 --decode-tokens 2 --decode-prompt 4 --repetitions 1 --warmup 0 --json "
                              "--db " + db + " 2>" + dir + "/stderr.txt";
  const Captured run = Capture(command);
  // On failure say why (this failed once, unexplained, with stderr thrown away and the parse throwing).
  const auto stderr_text = ReadFile(dir + "/stderr.txt");
  const std::string why = "stdout: " + run.out + "\nstderr: " + (stderr_text.ok() ? *stderr_text : "?");
  EXPECT_EQ(run.status, 0) << why;
  ASSERT_TRUE(nlohmann::json::accept(run.out)) << why;
  const nlohmann::json json = nlohmann::json::parse(run.out);
  ASSERT_EQ(json["rows"].size(), 3u);  // pp16, tg2, tg2 b2
  EXPECT_EQ(json["rows"][2]["test"], "tg2 b2");
}

}  // namespace
}  // namespace fp4lab
