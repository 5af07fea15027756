// The latency task: its statistics, aggregation from stored samples, and a real run on the tiny preset (CPU).
#include "tasks/latency.h"

#include <cmath>
#include <iostream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/memory_model.h"
#include "fake_language_model.h"
#include "gpu/gpu_test_util.h"
#include "tasks/latency_memory.h"
#include "tasks/registry.h"

namespace fp4lab {
namespace {

TEST(LatencyTaskTest, CreateRejectsBadOptions) {
  auto bad = [](LatencyOptions o) { return LatencyTask::Create(std::move(o)).status().code(); };
  EXPECT_EQ(bad({.prompt_lengths = {}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad({.prompt_lengths = {128, 0}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad({.batches = {-1}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad({.decode_tokens = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad({.repetitions = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad({.warmup = -1}), StatusCode::kInvalidArgument);
  auto task = LatencyTask::Create({});
  ASSERT_TRUE(task.ok());
  EXPECT_EQ((*task)->Name(), "latency");
  EXPECT_EQ((*task)->Config()["prompt_lengths"], (std::vector<int>{128, 512, 2048}));
  EXPECT_NE((*task)->Config()["excluded"].get<std::string>().find("tokenization and sampling"), std::string::npos);
  EXPECT_NE((*task)->Config()["timed"].get<std::string>().find("Model::DecodeStep"), std::string::npos);
  EXPECT_EQ((*task)->Version(), "2");
}

TEST(LatencyTaskTest, RegistryBuildsItFromItsOwnStoredConfig) {
  auto task = CreateTask("latency", {{"prompt_lengths", {16}}, {"repetitions", 2}}, "");
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  auto again = CreateTask("latency", (*task)->Config(), "");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->Config(), (*task)->Config());
  EXPECT_EQ(CreateTask("latency", {{"prompt_length", {16}}}, "").status().code(), StatusCode::kInvalidArgument);
}

SampleRecord Sample(const std::string& id, nlohmann::json data, const std::string& outcome = "measured") {
  SampleRecord s;
  s.sample_id = id;
  s.outcome = outcome;
  s.data = std::move(data);
  return s;
}

// Expected values computed by hand from the sample data.
TEST(LatencyTaskTest, AggregateComputesEveryMetricFromSamples) {
  auto task = LatencyTask::Create({});
  ASSERT_TRUE(task.ok());
  const std::vector<SampleRecord> samples = {
      Sample("prefill@128/rep0", {{"tokens", 128}, {"seconds", 0.5}}),   // 256 tok/s
      Sample("prefill@128/rep1", {{"tokens", 128}, {"seconds", 0.25}}),  // 512 tok/s
      Sample("prefill@16/rep0", {{"tokens", 16}, {"seconds", 0.1}}),     // 160 tok/s
      Sample("decode@b1/rep0", {{"prompt_tokens", 8}, {"decode_tokens", 4}, {"ttft_ms", 10.0},
                                {"itl_ms", {1.0, 2.0, 3.0, 4.0}}}),       // 4 tokens in 10 ms: 400 tok/s
      Sample("decode@b1/rep1", {{"prompt_tokens", 8}, {"decode_tokens", 4}, {"ttft_ms", 20.0},
                                {"itl_ms", {5.0, 5.0, 5.0, 5.0}}}),       // 4 tokens in 20 ms: 200 tok/s
      // Batch 2: 2 sequences x 4 steps = 8 tokens in 8 ms (1000 tok/s), then in 4 ms (2000 tok/s).
      Sample("decode@b2/rep0", {{"batch", 2}, {"prompt_tokens", 8}, {"decode_tokens", 4}, {"ttft_ms", 12.0},
                                {"itl_ms", {2.0, 2.0, 2.0, 2.0}}}),
      Sample("decode@b2/rep1", {{"batch", 2}, {"prompt_tokens", 8}, {"decode_tokens", 4}, {"ttft_ms", 14.0},
                                {"itl_ms", {1.0, 1.0, 1.0, 1.0}}}),
      // As version 1 stored a batch it could not run: skipped.
      Sample("decode@b8", {{"batch", 8}, {"reason", "no batched path"}}, "not_measured"),
      Sample("memory", {{"weight_bytes", 1000}, {"predicted_weight_bytes", 1010}, {"kv_cache_bytes", 64},
                        {"peak_device_bytes", 5000}}),
  };
  auto metrics = (*task)->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  std::map<std::string, MetricRecord> by_name;
  std::vector<std::string> order;
  for (const MetricRecord& m : *metrics) {
    by_name[m.metric] = m;
    order.push_back(m.metric);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"prefill_tok_s@16", "prefill_tok_s@128", "decode_tok_s@b1", "ttft_ms",
                                             "itl_ms_p50", "itl_ms_p90", "itl_ms_p99", "decode_tok_s@b2",
                                             "ttft_ms@b2", "itl_ms_p50@b2", "itl_ms_p90@b2", "itl_ms_p99@b2",
                                             "weight_bytes", "predicted_weight_bytes", "kv_cache_bytes",
                                             "peak_device_bytes"}));
  EXPECT_DOUBLE_EQ(by_name["prefill_tok_s@128"].value, 384.0);
  EXPECT_DOUBLE_EQ(*by_name["prefill_tok_s@128"].stderr_value, std::sqrt(2 * 128.0 * 128.0) / std::sqrt(2.0));
  EXPECT_EQ(by_name["prefill_tok_s@128"].unit, "tok/s");
  EXPECT_EQ(by_name["prefill_tok_s@128"].higher_is, "better");
  EXPECT_DOUBLE_EQ(by_name["prefill_tok_s@16"].value, 160.0);
  EXPECT_FALSE(by_name["prefill_tok_s@16"].stderr_value.has_value());
  EXPECT_DOUBLE_EQ(by_name["decode_tok_s@b1"].value, 300.0);
  EXPECT_DOUBLE_EQ(by_name["ttft_ms"].value, 15.0);
  EXPECT_EQ(by_name["ttft_ms"].higher_is, "worse");
  // ITL over all 8 steps {1, 2, 3, 4, 5, 5, 5, 5}: p50 at h = 3.5 -> 4.5; p90 at h = 6.3 -> 5; p99 -> 5.
  EXPECT_DOUBLE_EQ(by_name["itl_ms_p50"].value, 4.5);
  EXPECT_DOUBLE_EQ(by_name["itl_ms_p90"].value, 5.0);
  EXPECT_EQ(by_name["itl_ms_p99"].n, 8);
  EXPECT_EQ(by_name["itl_ms_p99"].unit, "ms");
  // Batch 2: mean of {1000, 2000} = 1500 tok/s, stderr = stddev / sqrt(2) = 707.1 / 1.414 = 500; its ITL pool
  // {1, 1, 1, 1, 2, 2, 2, 2} stays apart from batch 1's: p50 at h = 3.5 -> 1.5, p90 at h = 6.3 -> 2.
  EXPECT_DOUBLE_EQ(by_name["decode_tok_s@b2"].value, 1500.0);
  EXPECT_NEAR(*by_name["decode_tok_s@b2"].stderr_value, 500.0, 1e-9);
  EXPECT_EQ(by_name["decode_tok_s@b2"].n, 2);
  EXPECT_DOUBLE_EQ(by_name["ttft_ms@b2"].value, 13.0);
  EXPECT_DOUBLE_EQ(by_name["itl_ms_p50@b2"].value, 1.5);
  EXPECT_DOUBLE_EQ(by_name["itl_ms_p90@b2"].value, 2.0);
  EXPECT_EQ(by_name["itl_ms_p99@b2"].n, 8);
  EXPECT_EQ(by_name["itl_ms_p99@b2"].higher_is, "worse");
  EXPECT_DOUBLE_EQ(by_name["weight_bytes"].value, 1000.0);
  EXPECT_EQ(by_name["weight_bytes"].unit, "bytes");
  EXPECT_EQ(by_name["predicted_weight_bytes"].higher_is, "");
  EXPECT_DOUBLE_EQ(by_name["peak_device_bytes"].value, 5000.0);

  EXPECT_EQ((*task)->Aggregate({Sample("warmup/rep0", {})}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*task)->Aggregate({Sample("prefill@128/rep0", {{"tokens", 128}})}).status().code(),
            StatusCode::kInvalidArgument);
  const nlohmann::json decode = {{"decode_tokens", 1}, {"ttft_ms", 1.0}, {"itl_ms", {1.0}}};
  EXPECT_TRUE((*task)->Aggregate({Sample("decode@b4/rep0", decode)}).ok());
  for (const char* id : {"decode@b0/rep0", "decode@bx/rep0", "decode@b/rep0"}) {
    EXPECT_EQ((*task)->Aggregate({Sample(id, decode)}).status().code(), StatusCode::kInvalidArgument) << id;
  }
}

TEST(LatencyTaskTest, RefusesAModelThatIsNotAnEngine) {
  auto task = LatencyTask::Create({});
  ASSERT_TRUE(task.ok());
  testing::FakeLanguageModel fake;
  TaskRun run{.model = fake, .precision = "bf16"};
  run.should_run = [](const std::string&) { return true; };
  run.emit = [](std::vector<SampleRecord>&&) { return Status::Ok(); };
  EXPECT_EQ((*task)->Run(run).code(), StatusCode::kFailedPrecondition);
}

class LatencyRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions options;
    options.precision = "nvfp4";
    auto engine = Engine::OpenPreset("tiny", options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value().release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }

  // Runs `task` on the tiny engine, keeping the emitted samples; `skip` ids are treated as already stored.
  static std::vector<SampleRecord> RunTask(LatencyTask& task, const std::set<std::string>& skip = {}) {
    std::vector<SampleRecord> samples;
    TaskRun run{.model = *engine_, .precision = "nvfp4", .engine = engine_};
    run.should_run = [&](const std::string& id) { return !skip.count(id); };
    run.emit = [&](std::vector<SampleRecord>&& batch) {
      for (auto& s : batch) samples.push_back(std::move(s));
      return Status::Ok();
    };
    const Status status = task.Run(run);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return samples;
  }

  static Engine* engine_;
};
Engine* LatencyRunTest::engine_ = nullptr;

// The tiny preset's context is 512: a requested 4096 is clipped to 512 and 512 itself is then a duplicate, as is
// the second batch 2.
TEST_F(LatencyRunTest, MeasuresEveryShapeOnTheCpuAndRecordsMemory) {
  auto task = LatencyTask::Create({.prompt_lengths = {16, 4096, 512},
                                   .batches = {1, 2, 3, 2},
                                   .decode_tokens = 6,
                                   .decode_prompt = 8,
                                   .repetitions = 2,
                                   .warmup = 1});
  ASSERT_TRUE(task.ok());
  const std::vector<SampleRecord> samples = RunTask(**task);
  std::vector<std::string> ids;
  for (const SampleRecord& s : samples) ids.push_back(s.sample_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"prefill@16/rep0", "prefill@16/rep1", "prefill@512/rep0",
                                           "prefill@512/rep1", "decode@b1/rep0", "decode@b1/rep1", "decode@b2/rep0",
                                           "decode@b2/rep1", "decode@b3/rep0", "decode@b3/rep1", "memory"}));
  const ModelConfig& config = engine_->config();
  for (const SampleRecord& s : samples) {
    EXPECT_EQ(s.outcome, "measured") << s.sample_id;
    if (s.sample_id.rfind("prefill@", 0) == 0) {
      EXPECT_GT(s.data["seconds"].get<double>(), 0.0);
      EXPECT_DOUBLE_EQ(s.score, s.data["tokens"].get<double>() / s.data["seconds"].get<double>());
    } else if (s.sample_id.rfind("decode@b", 0) == 0) {
      // decode@b<B>/rep<r>: N = 6 steps of B tokens each; tok/s = B * N / sum(itl), summed in the task's order.
      const int batch = s.sample_id[8] - '0';
      EXPECT_EQ(s.data["batch"], batch) << s.sample_id;
      EXPECT_EQ(s.data["prompt_tokens"], 8);
      EXPECT_EQ(s.data["decode_tokens"], 6);
      ASSERT_EQ(s.data["itl_ms"].size(), 6u) << s.sample_id;
      double total_ms = 0.0;
      for (const auto& ms : s.data["itl_ms"]) {
        EXPECT_GT(ms.get<double>(), 0.0);
        total_ms += ms.get<double>();
      }
      EXPECT_DOUBLE_EQ(s.score, 1e3 * batch * 6 / total_ms) << s.sample_id;
      EXPECT_GT(s.data["ttft_ms"].get<double>(), 0.0);
    } else {
      // Measured figures against independent ones: the engine's own weight bytes, the config-only prediction,
      // KV caches actually allocated for the decode context (one sequence, and three), and the CPU's peak RSS,
      // which must at least hold the reference backend's f32 copy of every weight.
      EXPECT_EQ(s.data["weight_bytes"], engine_->model().WeightDeviceBytes());
      EXPECT_EQ(s.data["predicted_weight_bytes"],
                PredictWeightMemory(InventoryFromManifest(engine_->blueprint().manifest(), config.model_type), LinearScheme::kNvfp4).bytes);
      auto cache = engine_->model().NewCache(8 + 6, 1);
      ASSERT_TRUE(cache.ok());
      EXPECT_EQ(s.data["kv_cache_bytes"], (*cache)->Bytes());
      auto cache3 = engine_->model().NewCache(8 + 6, 3);
      ASSERT_TRUE(cache3.ok());
      EXPECT_EQ(s.data["kv_cache_bytes_by_batch"],
                (nlohmann::json{{"1", (*cache)->Bytes()}, {"2", 2 * (*cache)->Bytes()}, {"3", (*cache3)->Bytes()}}));
      EXPECT_EQ(s.data["workspace_tokens"], 512);
      EXPECT_GE(s.data["peak_device_bytes"].get<int64_t>(), 4 * engine_->blueprint().ParameterCount());
      EXPECT_NE(s.data["peak_source"].get<std::string>().find("RSS"), std::string::npos);
      const nlohmann::json kinds = s.data["weight_bytes_by_kind"];
      EXPECT_GT(kinds["attention"]["nvfp4"].get<int64_t>(), 0);
      EXPECT_GT(kinds["mlp"]["nvfp4"].get<int64_t>(), 0);
      EXPECT_EQ(kinds["lm_head"]["bf16"], int64_t{config.vocab_size} * config.hidden_size * 2);
      EXPECT_EQ(kinds["embedding"]["bf16"], int64_t{config.vocab_size} * config.hidden_size * 2);
      // The manifest's roles cover every stored weight: but for the norm vectors (bf16, 2 B each), which
      // Model::WeightDeviceBytes leaves out, they add up to the engine's own count of its weight buffers.
      int64_t by_role = 0;
      for (const auto& [role, schemes] : kinds.items()) {
        for (const auto& [scheme, bytes] : schemes.items()) by_role += bytes.get<int64_t>();
      }
      EXPECT_EQ(by_role - kinds["norms"]["bf16"].get<int64_t>(), s.data["weight_bytes"].get<int64_t>()) << kinds.dump();
    }
  }
  auto metrics = (*task)->Aggregate(samples);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  std::map<std::string, MetricRecord> by_name;
  for (const MetricRecord& m : *metrics) {
    by_name[m.metric] = m;
    EXPECT_GT(m.value, 0.0) << m.metric;
  }
  std::set<std::string> names;
  for (const auto& [name, m] : by_name) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"prefill_tok_s@16", "prefill_tok_s@512", "decode_tok_s@b1", "ttft_ms",
                                          "itl_ms_p50", "itl_ms_p90", "itl_ms_p99", "decode_tok_s@b2", "ttft_ms@b2",
                                          "itl_ms_p50@b2", "itl_ms_p90@b2", "itl_ms_p99@b2", "decode_tok_s@b3",
                                          "ttft_ms@b3", "itl_ms_p50@b3", "itl_ms_p90@b3", "itl_ms_p99@b3",
                                          "weight_bytes", "predicted_weight_bytes", "kv_cache_bytes",
                                          "peak_device_bytes"}));
  // The metric is the mean of the samples' scores (both are B * N / sum(itl)); 1e-12 relative covers the few
  // ulps a mean of two doubles and the different association of 1e3 * B * N / total can differ by.
  for (int batch : {1, 2, 3}) {
    const std::string shape = "decode@b" + std::to_string(batch);
    double mean = 0.0;
    for (const SampleRecord& s : samples) {
      if (s.sample_id.rfind(shape + "/", 0) == 0) mean += s.score / 2;
    }
    const MetricRecord& m = by_name["decode_tok_s@b" + std::to_string(batch)];
    EXPECT_NEAR(m.value, mean, 1e-12 * mean) << shape;
    EXPECT_EQ(m.n, 2);
  }
  EXPECT_EQ(by_name["itl_ms_p50@b3"].n, 2 * 6);  // every timed step of both repetitions
}

TEST_F(LatencyRunTest, ResumeRunsOnlyWhatIsNotStored) {
  auto task = LatencyTask::Create({.prompt_lengths = {16}, .batches = {1, 2}, .decode_tokens = 2,
                                   .decode_prompt = 4, .repetitions = 2, .warmup = 0});
  ASSERT_TRUE(task.ok());
  const std::vector<SampleRecord> samples =
      RunTask(**task, {"prefill@16/rep0", "decode@b1/rep0", "decode@b1/rep1", "decode@b2/rep0"});
  std::set<std::string> ids;
  for (const SampleRecord& s : samples) ids.insert(s.sample_id);
  EXPECT_EQ(ids, (std::set<std::string>{"prefill@16/rep1", "decode@b2/rep1", "memory"}));
}

// Runs the latency task with `options` on a bf16 synthetic model of `config` on the CPU; *emitted tells whether any
// sample reached the store.
Status RunOnSyntheticConfig(const nlohmann::json& config, LatencyOptions options, bool* emitted) {
  auto engine = Engine::OpenSynthetic({config, 0, "config under test"}, EngineOptions());
  if (!engine.ok()) return engine.status();
  FP4LAB_ASSIGN_OR_RETURN(auto task, LatencyTask::Create(std::move(options)));
  TaskRun run{.model = **engine, .precision = "bf16", .engine = engine->get()};
  run.should_run = [](const std::string&) { return true; };
  run.emit = [emitted](std::vector<SampleRecord>&&) {
    *emitted = true;
    return Status::Ok();
  };
  return task->Run(run);
}

// A config whose context admits a prompt far larger than this host's memory: the task refuses before allocating,
// naming the bytes from the documented formulas (KV: 2 * layers * L * kv_dim * 4; activations and logits:
// L * (2D + 3Q + 2KV + 3F + V) * 4).
TEST(LatencyFitTest, APromptThatDoesNotFitIsReportedWithTheBytesNeeded) {
  const nlohmann::json config = {{"model_type", "llama"}, {"hidden_size", 64}, {"intermediate_size", 64},
                                 {"num_hidden_layers", 1}, {"num_attention_heads", 1}, {"num_key_value_heads", 1},
                                 {"vocab_size", 32000},    {"max_position_embeddings", 1000000}};
  bool emitted = false;
  const Status status = RunOnSyntheticConfig(config, {.prompt_lengths = {1000000}, .batches = {1},
                                                      .decode_tokens = 1, .decode_prompt = 1, .repetitions = 1,
                                                      .warmup = 0},
                                             &emitted);
  const int64_t needed = 2 * 1 * int64_t{1000000} * 64 * 4 + int64_t{1000000} * (10 * 64 + 32000) * 4;
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("prefill of 1000000 tokens needs " + std::to_string(needed) + " bytes"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("--prompt-lengths"), std::string::npos);
  EXPECT_FALSE(emitted);  // nothing measured before the check
}

// A decode batch whose KV cache alone is far beyond this host's memory (1e6 sequences x 2000 positions x 512 bytes
// = 1.024 TB) is refused before anything runs, naming every part from the documented formulas: KV cache
// 2 * layers * B * (P + N) * kv_dim * 4; prompt activations and logits P * (10 * 64 + V) * 4; step activations and
// logits B * (10 * 64 + V) * 4; host logits (P + B) * V * 4 (the CPU budget holds device and host together).
// Batch 1 of the same list fits, and is not run either.
TEST(LatencyFitTest, ABatchWhoseKvCacheDoesNotFitIsReportedWithTheBytesNeeded) {
  const nlohmann::json config = {{"model_type", "llama"}, {"hidden_size", 64}, {"intermediate_size", 64},
                                 {"num_hidden_layers", 1}, {"num_attention_heads", 1}, {"num_key_value_heads", 1},
                                 {"vocab_size", 256},      {"max_position_embeddings", 1000000}};
  bool emitted = false;
  const Status status = RunOnSyntheticConfig(config, {.prompt_lengths = {1}, .batches = {1, 1000000},
                                                      .decode_tokens = 1000, .decode_prompt = 1000,
                                                      .repetitions = 1, .warmup = 0},
                                             &emitted);
  const int64_t batch = 1000000, p = 1000, n = 1000, per_token = (10 * 64 + 256) * 4;
  const int64_t kv = 2 * 1 * batch * (p + n) * 64 * 4;
  const int64_t needed = kv + p * per_token + batch * per_token + (p + batch) * 256 * 4;
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("decode at batch 1000000 (1000 tokens after a 1000-token prompt per sequence) "
                                  "needs " + std::to_string(needed) + " bytes"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("KV cache " + std::to_string(kv)), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("--batches"), std::string::npos);
  EXPECT_FALSE(emitted);
}

// On a CUDA device (skipped with the reason otherwise): batched decode through the CUDA backend (Model::DecodeStep,
// replayed as a CUDA graph after the warm-up) for batches 1 and 8, and the backend's peak of held bytes, which
// must cover what the batch-8 run held at once: the weights, its KV cache, the prompt logits [P, V] and the step
// logits [8, V] (all allocated through the backend's context; activations and scratch only add to it).
TEST(LatencyGpuTest, BatchedDecodeAndPeakDeviceMemoryOnCuda) {
  FP4LAB_REQUIRE_GPU();
  EngineOptions options;
  options.precision = "nvfp4";
  options.device = "cuda";
  auto engine = Engine::OpenPreset("tiny", options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto task = LatencyTask::Create({.prompt_lengths = {16}, .batches = {1, 8}, .decode_tokens = 16,
                                   .decode_prompt = 8, .repetitions = 2, .warmup = 1});
  ASSERT_TRUE(task.ok());
  std::vector<SampleRecord> samples;
  TaskRun run{.model = **engine, .precision = "nvfp4", .engine = engine->get()};
  run.should_run = [](const std::string&) { return true; };
  run.emit = [&](std::vector<SampleRecord>&& batch) {
    for (auto& s : batch) samples.push_back(std::move(s));
    return Status::Ok();
  };
  const Status status = (*task)->Run(run);
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::vector<std::string> ids;
  for (const SampleRecord& s : samples) ids.push_back(s.sample_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"prefill@16/rep0", "prefill@16/rep1", "decode@b1/rep0", "decode@b1/rep1",
                                           "decode@b8/rep0", "decode@b8/rep1", "memory"}));
  const ModelConfig& config = (*engine)->config();
  for (const SampleRecord& s : samples) {
    if (s.sample_id.rfind("decode@b", 0) != 0) continue;
    ASSERT_EQ(s.data["itl_ms"].size(), 16u) << s.sample_id;
    double total_ms = 0.0;
    for (const auto& ms : s.data["itl_ms"]) total_ms += ms.get<double>();
    EXPECT_DOUBLE_EQ(s.score, 1e3 * s.data["batch"].get<double>() * 16 / total_ms) << s.sample_id;
    std::cout << "[" << s.sample_id << "] " << s.score << " tok/s, TTFT " << s.data["ttft_ms"] << " ms\n";
  }
  const nlohmann::json memory = samples.back().data;
  const int64_t vocab = config.vocab_size;
  const int64_t held_at_batch8 = (*engine)->model().WeightDeviceBytes() +
                                 memory["kv_cache_bytes_by_batch"]["8"].get<int64_t>() + (8 + 8) * vocab * 4;
  ASSERT_TRUE(memory.contains("peak_device_bytes")) << memory.dump();
  std::cout << "[memory] peak " << memory["peak_device_bytes"] << " bytes; " << memory["peak_source"] << "\n";
  EXPECT_GE(memory["peak_device_bytes"].get<int64_t>(), held_at_batch8);
  EXPECT_NE(memory["peak_source"].get<std::string>().find("memory_peak_bytes"), std::string::npos);
  EXPECT_NE(memory["peak_source"].get<std::string>().find("cuBLASLt workspace"), std::string::npos);
  EXPECT_NE(memory["available_source"].get<std::string>().find("free memory"), std::string::npos);
  // After the run only the weights and long-lived scratch remain: held now <= the peak, and free memory is known.
  const nlohmann::json facts = (*engine)->backend().Facts();
  EXPECT_LE(facts["memory_allocated_bytes"].get<int64_t>(), facts["memory_peak_bytes"].get<int64_t>());
  EXPECT_GT(facts["memory_free_bytes"].get<int64_t>(), 0);
}

}  // namespace
}  // namespace fp4lab
