// `fp4lab bench`: latency and memory of one model in several precisions. Runs the "latency" task (tasks/latency.h)
// through the same runner and result store as `fp4lab run`, so every figure lands in SQLite with the device facts
// and the NVFP4 path of each precision, then prints a llama-bench-like table read back from the store.
//
// The model is a checkpoint (--model DIR), a built-in preset (--preset NAME, engine/presets.h) or any
// config.json (--config FILE); the last two get deterministic random weights (engine/synthetic_weights.h) through a
// synthetic model directory written under the system temp directory, named by a hash of the config and seed.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "datasets/sha256.h"
#include "engine/file_util.h"
#include "engine/presets.h"
#include "engine/synthetic_weights.h"
#include "harness/kv_cache_flag.h"
#include "harness/comma_list.h"
#include "harness/bench_summary.h"
#include "harness/command.h"
#include "harness/paths.h"
#include "results/result_store.h"
#include "harness/runner.h"
#include "harness/synthetic_model_dir.h"

namespace fp4lab {

namespace {

struct BenchFlags {
  std::string model;
  std::string preset;
  std::string config;
  std::string precisions = "bf16,nvfp4-w4a16,nvfp4";
  std::string device = "cpu";
  std::string prompt_lengths = "128,512,2048";
  std::string batches = "1,8,32";
  int decode_tokens = 128;
  int decode_prompt = 128;
  int repetitions = 5;
  int warmup = 1;
  std::string db = "results.sqlite";
  std::string calib = DataPath("wikitext2/wikitext2_sample.txt");
  std::string kv_cache = "auto";
  std::string tag;
  bool json = false;
};

// "128,512" -> {128, 512}. InvalidArgument naming the flag for anything but positive integers.
Result<std::vector<int>> ParsePositiveList(const std::string& flag, const std::string& text) {
  std::vector<int> values;
  for (const std::string& item : SplitCommaList(text)) {
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || value < 1) {
      return Status::InvalidArgument(flag + ": '" + item + "' is not a positive integer (expected e.g. " +
                                     (flag == "--batches" ? "1,8,32" : "128,512,2048") + ")");
    }
    values.push_back(value);
  }
  if (values.empty()) return Status::InvalidArgument(flag + ": at least one value is needed");
  return values;
}

// The model directory the runner loads: --model as given, or a synthetic model directory for --preset/--config.
Result<std::string> ModelDirectory(const BenchFlags& f) {
  if (!f.model.empty()) return f.model;
  namespace fs = std::filesystem;
  SyntheticModelSpec spec;
  std::string slug;
  if (!f.config.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(spec.config, ReadJsonFile(f.config));
    if (!spec.config.is_object()) return Status::InvalidArgument(f.config + ": expected a JSON object");
    std::error_code ec;
    const fs::path absolute = fs::absolute(f.config, ec);
    spec.origin = "config " + (ec ? f.config : absolute.string());
    slug = fs::path(f.config).stem().string();
  } else {
    FP4LAB_ASSIGN_OR_RETURN(const ModelPreset* preset, FindPreset(f.preset.empty() ? "tiny" : f.preset));
    spec.config = preset->config;
    spec.origin = "preset " + preset->name;
    slug = preset->name;
  }
  spec.config.erase("quantization_config");
  return WriteSyntheticModel(std::move(spec), slug);
}

// The command line as flags, for provenance (every value that shapes the run).
std::string CommandLine(const BenchFlags& f) {
  std::string line = "fp4lab bench";
  if (!f.model.empty()) line += " --model " + f.model;
  if (!f.config.empty()) line += " --config " + f.config;
  if (f.model.empty() && f.config.empty()) line += " --preset " + (f.preset.empty() ? "tiny" : f.preset);
  line += " --precisions " + f.precisions + " --kv-cache " + f.kv_cache + " --device " + f.device + " --prompt-lengths " + f.prompt_lengths +
          " --batches " + f.batches + " --decode-tokens " + std::to_string(f.decode_tokens) + " --decode-prompt " +
          std::to_string(f.decode_prompt) + " --repetitions " + std::to_string(f.repetitions) + " --warmup " +
          std::to_string(f.warmup) + " --db " + f.db;
  return line;
}

Result<int> RunBench(const BenchFlags& f) {
  RunPlan plan;
  FP4LAB_ASSIGN_OR_RETURN(plan.model_dir, ModelDirectory(f));
  FP4LAB_ASSIGN_OR_RETURN(plan.precisions, ResolvePrecisionLabels(SplitCommaList(f.precisions), f.kv_cache,
                                                                   [&](const std::string&) { return plan.model_dir; }));
  if (plan.precisions.empty()) return Status::InvalidArgument("--precisions: at least one precision is needed");
  plan.no_reference = true;  // throughput and memory are per precision; nothing is paired
  plan.tasks = {"latency"};
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<int> lengths, ParsePositiveList("--prompt-lengths", f.prompt_lengths));
  FP4LAB_ASSIGN_OR_RETURN(const std::vector<int> batches, ParsePositiveList("--batches", f.batches));
  plan.task_options = {{"latency",
                        {{"prompt_lengths", lengths},
                         {"batches", batches},
                         {"decode_tokens", f.decode_tokens},
                         {"decode_prompt", f.decode_prompt},
                         {"repetitions", f.repetitions},
                         {"warmup", f.warmup}}}};
  plan.device = f.device;
  // Synthetic weights are served already quantized; only a bf16 checkpoint quantized on load needs calibration.
  if (!f.model.empty()) plan.calibration_file = f.calib;
  plan.tag = f.tag;
  plan.command_line = CommandLine(f);

  FP4LAB_ASSIGN_OR_RETURN(const RunOutcome outcome, ExecuteRun(plan, f.db, /*resume=*/false));
  FP4LAB_ASSIGN_OR_RETURN(auto store, ResultStore::Open(f.db, OpenMode::kReadOnly));
  FP4LAB_ASSIGN_OR_RETURN(const BenchSummary summary, LoadBenchSummary(*store, outcome.run_id));
  if (f.json) {
    std::cout << BenchSummaryJson(summary).dump() << "\n";
  } else {
    std::cout << RenderBenchSummary(summary) << "run " << outcome.run_id << " stored in " << f.db << "\n";
  }
  return 0;
}

}  // namespace

Command AddBenchCommand(CLI::App& root) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* app = root.add_subcommand(
      "bench",
      "Measure latency and memory: prefill tok/s per prompt length, decode tok/s per batch size (--batches: B\n"
      "sequences decoded together, one token each per step), TTFT and inter-token latency percentiles per batch,\n"
      "weight / KV-cache / peak memory beside the analytic prediction, per precision.\n"
      "Tokenization and sampling are excluded. Results go to the SQLite store like `fp4lab run --tasks latency`.\n"
      "A block-diffusion model (DiffusionGemma) is timed through its sampler instead: tok/s of whole generations\n"
      "(every denoising step), steps per canvas actually taken, per-step and encoder-commit latency.\n"
      "With no model flag: the built-in 'tiny' preset (seconds on a CPU).");
  auto* model = app->add_option("--model", f->model, "Checkpoint directory (HF, bf16 or NVFP4)");
  auto* preset = app->add_option("--preset", f->preset,
                                 "Built-in config with deterministic random weights: " + PresetNames());
  auto* config = app->add_option("--config", f->config, "A config.json of any family fp4lab runs, with random weights");
  model->excludes(preset, config);
  preset->excludes(config);
  app->add_option("--precisions", f->precisions, "Comma list of bf16, nvfp4, nvfp4-w4a16, fp8, each optionally +kv-bf16 or +kv-fp8")
      ->capture_default_str();
  app->add_option("--device", f->device, "cpu | cuda[:N]")->capture_default_str();
  app->add_option("--prompt-lengths", f->prompt_lengths, "Prefill lengths (clipped to the model's context)")
      ->capture_default_str();
  app->add_option("--batches", f->batches,
                  "Decode batch sizes: B sequences decoded together; tok/s counts all B (e.g. 1,8,32)")
      ->capture_default_str();
  app->add_option("--decode-tokens", f->decode_tokens, "Decode steps per repetition")->capture_default_str();
  app->add_option("--decode-prompt", f->decode_prompt, "Prompt tokens before the decode steps (TTFT)")
      ->capture_default_str();
  app->add_option("--repetitions", f->repetitions, "Timed repetitions per shape")->capture_default_str();
  app->add_option("--warmup", f->warmup, "Untimed runs per shape before the repetitions")->capture_default_str();
  app->add_option("--db", f->db, "SQLite result file (created if missing)")->capture_default_str();
  AddKvCacheFlag(*app, f->kv_cache);
  app->add_option("--calib", f->calib, "Calibration text when --model is a bf16 checkpoint quantized on load")
      ->capture_default_str();
  app->add_option("--tag", f->tag, "Label for this run (gate baselines can name it)");
  app->add_flag("--json", f->json, "Print the results as JSON instead of tables");
  return {app, [f] { return RunBench(*f); }};
}

}  // namespace fp4lab
