// A complete synthetic result store for the report tests: one CPU run with every task (perplexity, fidelity
// with per-sample KLD histograms, MMLU with categories/subjects and flips, HumanEval with per-problem outcomes,
// mmlu_generative, denoiser_fidelity, latency, memory, a layer map) whose model path is a hostile string, plus a
// second run on another device with perplexity only. Numbers are arbitrary but self-consistent (deltas =
// differences of the stored values).
#pragma once

#include <string>
#include <vector>

#include "reports/report_test_store.h"

namespace fp4lab::testing {

// Hostile text stored in the database; must never reach a rendered page unescaped.
inline constexpr const char* kHostileModelPath = "/models/<script>alert('x')</script>&\"q\"";
inline constexpr const char* kHostileReason = "K=172 <b>not</b> a multiple of 16 | pipe `tick`";

// KLD bin edges of the fidelity samples and the per-sample counts the fixture stores, in the runner's
// open-ended form (tasks/fidelity.cc): 4 edges, 5 bins (below 1e-4, three closed bins, at or above 1).
inline const std::vector<double>& FixtureKldEdges() {
  static const std::vector<double> kEdges = {1e-4, 1e-3, 1e-2, 1.0};
  return kEdges;
}
inline std::vector<double> FixtureKldCounts(int sample) { return {40.0 + sample, 30.0, 20.0 - sample, 8.0, 2.0}; }
inline constexpr int kFixtureFidelitySamples = 4;

struct FixtureRuns {
  int64_t full = 0;    // every task, CPU
  int64_t second = 0;  // perplexity only, on an H100
};

inline FixtureRuns FillFixture(TestStore& db, bool with_kld_hist = true) {
  FixtureRuns runs;
  RunRecord run;
  run.plan_key = "full";
  run.tag = "nightly";
  run.started_at = "2026-11-27T01:50:10Z";
  run.model_path = kHostileModelPath;
  run.reference_path = "/models/llama-bf16";
  run.device = "cpu";
  run.device_name = "CPU (x86_64)";
  run.git_sha = "0123456789ab";
  run.provenance = {
      {"build_type", "Release"},
      {"host", "ci-runner-3"},
      {"command_line", "fp4lab run --model '<script>'"},
      {"model_sha256", "ab12"},
      {"device", {{"name", "CPU (x86_64)"}, {"driver", "n/a"}}},
      {"nvfp4_path",
       {{"nvfp4", {{"path", "emulated"}, {"reason", "no FP4 tensor cores on CPU"}}}, {"nvfp4-w4a16", "weight-only"}}},
      {"memory",
       {{"resident", "one model at a time"},
        {"peak_bytes", 3221225472},
        {"precisions",
         {{"bf16", {{"weight_device_bytes", 2147483648}, {"peak_bytes", 3221225472}, {"source", "host peak RSS"}}},
          {"nvfp4", {{"weight_device_bytes", 603979776}, {"source", "not measured: no figure"}}}}}}}};
  runs.full = db.AddRun(run, RunStatus::kComplete);
  const int64_t id = runs.full;

  // Perplexity.
  db.Metric(id, "perplexity", "bf16", "token_ppl", 9.80, 0.05, 4096, "", "worse");
  db.Metric(id, "perplexity", "nvfp4", "token_ppl", 10.12, 0.05, 4096, "", "worse");
  db.Metric(id, "perplexity", "nvfp4-w4a16", "token_ppl", 9.95, 0.05, 4096, "", "worse");
  db.Metric(id, "perplexity", "fp8", "token_ppl", 9.83, 0.05, 4096, "", "worse");
  db.Metric(id, "perplexity", "bf16", "bits_per_byte", 0.91, std::nullopt, 4096, "", "worse");
  db.Metric(id, "perplexity", "nvfp4", "bits_per_byte", 0.93, std::nullopt, 4096, "", "worse");
  db.Comparison(id, "perplexity", "nvfp4", "token_ppl", 10.12 - 9.80, 0.25, 0.39);
  db.Comparison(id, "perplexity", "nvfp4", "ln_ppl_ratio", 0.0321, 0.0252,
                0.0390);  // no metric row: a paired statistic
  // Fidelity of nvfp4 against the bf16 logits.
  const std::vector<std::pair<std::string, double>> fidelity = {
      {"kld_mean", 0.0123}, {"kld_median", 0.0061}, {"kld_p90", 0.031},     {"kld_p99", 0.12},
      {"kld_p999", 0.41},   {"kld_max", 2.3},       {"ln_ppl_ratio", 0.032}};
  for (const auto& [name, value] : fidelity)
    db.Metric(id, "fidelity", "nvfp4", name, value, std::nullopt, 4096, "nats", "worse");
  // Percentages as the runner stores them (unit "%").
  db.Metric(id, "fidelity", "nvfp4", "same_top_p", 94.7, 0.35, 4096, "%", "better");
  db.Metric(id, "fidelity", "nvfp4", "delta_p_mean", -0.21, 0.05, 4096, "%", "better");
  db.Metric(id, "fidelity", "nvfp4", "delta_p_rms", 3.4, std::nullopt, 4096, "%", "worse");
  // MMLU.
  db.Metric(id, "mmlu", "bf16", "acc", 0.62, 0.0217, 500, "", "better");
  db.Metric(id, "mmlu", "nvfp4", "acc", 0.59, 0.0220, 500, "", "better");
  db.Metric(id, "mmlu", "bf16", "acc_cat/stem", 0.55, std::nullopt, 200, "", "better");
  db.Metric(id, "mmlu", "nvfp4", "acc_cat/stem", 0.50, std::nullopt, 200, "", "better");
  db.Metric(id, "mmlu", "bf16", "acc_cat/humanities", 0.68, std::nullopt, 300, "", "better");
  db.Metric(id, "mmlu", "nvfp4", "acc_cat/humanities", 0.66, std::nullopt, 300, "", "better");
  db.Metric(id, "mmlu", "bf16", "acc/abstract_algebra", 0.31, std::nullopt, 100, "", "better");
  db.Metric(id, "mmlu", "nvfp4", "acc/abstract_algebra", 0.27, std::nullopt, 100, "", "better");
  db.Comparison(id, "mmlu", "nvfp4", "acc", 0.59 - 0.62, -0.052, -0.008,
                {{"right_to_wrong", 31}, {"wrong_to_right", 16}}, 0.04, "mcnemar_exact");
  // HumanEval.
  db.Metric(id, "humaneval", "bf16", "pass@1", 0.5, 0.125, 4, "", "better");
  db.Metric(id, "humaneval", "nvfp4", "pass@1", 0.25, 0.108, 4, "", "better");
  // Generative MMLU and denoiser fidelity (tasks for diffusion models; the store's task rows carry a convention).
  db.Metric(id, "mmlu_generative", "bf16", "exact_match", 0.42, 0.02, 600, "", "better");
  db.Metric(id, "mmlu_generative", "nvfp4", "exact_match", 0.40, 0.02, 600, "", "better");
  db.Metric(id, "mmlu_generative", "nvfp4", "exact_match/anatomy", 0.30, 0.05, 100, "", "better");
  db.Comparison(id, "mmlu_generative", "nvfp4", "exact_match", -0.02, -0.035, -0.005,
                {{"right_to_wrong", 20}, {"wrong_to_right", 8}}, 0.03, "mcnemar_exact");
  db.Metric(id, "denoiser_fidelity", "nvfp4", "step2/kld_mean", 0.0456, 0.004, 1024, "nats", "worse");
  // Latency and memory.
  db.Metric(id, "latency", "bf16", "prefill_tok_s@512", 2100.0, std::nullopt, 5, "tok/s", "better");
  db.Metric(id, "latency", "nvfp4", "prefill_tok_s@512", 3400.0, std::nullopt, 5, "tok/s", "better");
  db.Metric(id, "latency", "bf16", "prefill_tok_s@128", 1500.0, std::nullopt, 5, "tok/s", "better");
  db.Metric(id, "latency", "nvfp4", "prefill_tok_s@128", 2300.0, std::nullopt, 5, "tok/s", "better");
  db.Metric(id, "latency", "bf16", "decode_tok_s@b1", 41.5, std::nullopt, 5, "tok/s", "better");
  db.Metric(id, "latency", "nvfp4", "decode_tok_s@b1", 97.2, std::nullopt, 5, "tok/s", "better");
  db.Metric(id, "latency", "bf16", "ttft_ms", 243.0, std::nullopt, 5, "ms", "worse");
  db.Metric(id, "latency", "nvfp4", "ttft_ms", 151.0, std::nullopt, 5, "ms", "worse");
  db.Metric(id, "latency", "bf16", "itl_ms_p50", 24.1, std::nullopt, 500, "ms", "worse");
  db.Metric(id, "latency", "nvfp4", "itl_ms_p50", 10.3, std::nullopt, 500, "ms", "worse");
  db.Metric(id, "latency", "bf16", "itl_ms_p99", 31.0, std::nullopt, 500, "ms", "worse");
  db.Metric(id, "latency", "nvfp4", "itl_ms_p99", 14.9, std::nullopt, 500, "ms", "worse");
  db.Metric(id, "memory", "bf16", "weight_bytes", 16.06e9, std::nullopt, 1, "bytes", "worse");
  db.Metric(id, "memory", "nvfp4", "weight_bytes", 5.72e9, std::nullopt, 1, "bytes", "worse");
  db.Metric(id, "memory", "nvfp4", "predicted_weight_bytes", 5.70e9, std::nullopt, 1, "bytes", "worse");
  db.Metric(id, "memory", "bf16", "peak_device_bytes", 18.2e9, std::nullopt, 1, "bytes", "worse");
  db.Metric(id, "memory", "nvfp4", "peak_device_bytes", 7.9e9, std::nullopt, 1, "bytes", "worse");
  db.Commit();

  std::vector<SampleRecord> samples;
  for (int i = 0; i < kFixtureFidelitySamples; ++i) {
    nlohmann::json data = {{"tokens", 100}};
    if (with_kld_hist) {
      data["kld_hist"] = FixtureKldCounts(i);
      data["kld_bin_edges"] = FixtureKldEdges();
    }
    samples.push_back(MakeSample(id, "fidelity", "nvfp4", "doc" + std::to_string(i) + "/win0", 0.01, "", data));
  }
  // HumanEval draws, ids "<task_id>#<draw>" as the runner writes them: problems 0-3 one draw each
  // (0 regresses, 2 is fixed, 1 and 3 keep their pass rate); problem 4 two draws (2/2 -> 1/2, a regression).
  const std::vector<std::tuple<int, int, std::string, std::string>> draws = {
      {0, 0, "passed", "failed"},    {1, 0, "passed", "passed"}, {2, 0, "failed", "passed"},
      {3, 0, "failed", "timed_out"}, {4, 0, "passed", "passed"}, {4, 1, "passed", "error"}};
  for (const auto& [problem, draw, bf16, nvfp4] : draws) {
    const std::string task_id = "HumanEval/" + std::to_string(problem);
    const std::string sample_id = task_id + "#" + std::to_string(draw);
    const nlohmann::json data = {{"task_id", task_id}, {"draw", draw}};
    samples.push_back(MakeSample(id, "humaneval", "bf16", sample_id, bf16 == "passed", bf16, data));
    samples.push_back(MakeSample(id, "humaneval", "nvfp4", sample_id, nvfp4 == "passed", nvfp4, data));
  }
  db.Samples(samples);

  std::vector<LayerPrecisionRecord> layers;
  for (const std::string layer : {"model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj", "lm_head"}) {
    LayerPrecisionRecord l;
    l.run_id = id;
    l.precision = "nvfp4";
    l.layer = layer;
    l.scheme = layer == "lm_head" ? "bf16" : "nvfp4";
    l.reason = layer == "lm_head" ? "excluded by 'lm_head'"
                                  : (layer == "model.layers.0.mlp.down_proj" ? kHostileReason : "quantized");
    l.bytes = layer == "lm_head" ? 1024 : 288;
    layers.push_back(l);
  }
  db.Layers(layers);

  // A second run on another device: perplexity only.
  nlohmann::json provenance = {{"nvfp4_path", {{"nvfp4", "weight-only"}}}, {"device", {{"cc", "9.0"}}}};
  runs.second = db.AddRun("h100", RunStatus::kComplete, "NVIDIA H100 80GB HBM3", provenance);
  db.Metric(runs.second, "perplexity", "bf16", "token_ppl", 9.81, 0.05, 4096, "", "worse");
  db.Metric(runs.second, "perplexity", "nvfp4", "token_ppl", 10.05, 0.05, 4096, "", "worse");
  db.Commit();
  return runs;
}

}  // namespace fp4lab::testing
