// `fp4lab run`: the main job. Runs a model in several precisions on identical inputs, scores every task, stores
// everything in SQLite and (unless --report "") renders the HTML report next to it.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "engine/file_util.h"
#include "harness/kv_cache_flag.h"
#include "engine/presets.h"
#include "harness/comma_list.h"
#include "harness/diffusion_tasks.h"
#include "harness/command.h"
#include "harness/flag_checks.h"
#include "harness/paths.h"
#include "harness/rank_env.h"
#include "harness/runner.h"
#include "harness/synthetic_model_dir.h"
#include "reports/report.h"
#include "tasks/chat_prompt.h"
#include "tasks/humaneval_task.h"
#include "tasks/mmlu_generative.h"
#include "tasks/sandbox_dirs.h"

namespace fp4lab {

namespace {

struct RunFlags {
  std::string model = DefaultModelDir();
  std::string reference;
  std::string preset;     // engine/presets.h name: synthetic weights of that shape instead of --model
  std::string tokenizer;  // with --preset: the tokenizer folder the text tasks use
  std::string precisions = "bf16,nvfp4,nvfp4-w4a16";
  std::string tasks = "perplexity,fidelity";
  std::string device = "cpu";
  std::string db = "results.sqlite";
  std::string report = "report.html";
  std::string shard = "0/1";
  std::string tag;
  std::string ppl_convention = "lmeval";
  std::string ppl_data;
  std::string calib = DataPath("wikitext2/wikitext2_sample.txt");
  std::string kv_cache = "auto";
  int calib_tokens = 512;
  int ctx = 0;
  int limit = 0;
  int mmlu_shots = 0;
  std::string mmlu_subjects;
  std::string mmlu_data;       // release layout dir; empty = the bundled subset
  std::string humaneval_data;  // problems file of the code suite; empty = the bundled HumanEval subset
  std::string suite = "humaneval";
  int humaneval_samples = 1;
  float temperature = 0.0f;
  float top_p = 1.0f;
  uint64_t seed = 0;
  std::optional<int> max_new_tokens;  // unset = each generating task's own default
  bool allow_code_exec = false;
  std::string chat_template = "none";  // none | auto | FILE (tasks/chat_prompt.h)
  bool fewshot_as_multiturn = false;
  bool no_fewshot_as_multiturn = false;
  std::string system_prompt;
  bool resume = false;
  bool log_samples = false;
  bool no_reference = false;
  bool json = false;
  std::string command_line;
};

// True when the checkpoint directory carries a quantization config (pre-quantized NVFP4/FP8).
bool IsPreQuantized(const std::string& dir) {
  namespace fs = std::filesystem;
  if (HasDirectoryEntry((fs::path(dir) / "hf_quant_config.json").string())) return true;
  auto config = ReadJsonFile((fs::path(dir) / "config.json").string());
  return config.ok() && config->is_object() && config->contains("quantization_config");
}

// --shard "i/n", or "auto": rank and world size from the launcher's variables (harness/rank_env.h), which also pick
// the GPU of a bare "--device cuda". "{rank}" in --db and --report becomes the shard index. A run split over several
// processes needs one file per rank, and its per-shard report is skipped unless --report names one per rank.
Status ResolveShard(RunFlags& f, RunPlan& plan) {
  if (f.shard == "auto") {
    const EnvLookup env = ProcessEnvironment();
    FP4LAB_ASSIGN_OR_RETURN(RankPlacement placement, DiscoverRank(env));
    FP4LAB_ASSIGN_OR_RETURN(f.device, DeviceForRank(f.device, placement, env));
    plan.shard = {placement.rank, placement.world_size};
    plan.placement = placement.ToJson();
    std::fprintf(stderr, "--shard auto: rank %d of %d from %s; device %s\n", placement.rank, placement.world_size,
                 placement.source.c_str(), f.device.c_str());
    if (plan.shard.count > 1 && f.db.find("{rank}") == std::string::npos) {
      return Status::InvalidArgument("--db " + f.db + ": with --shard auto over " + std::to_string(plan.shard.count) +
                                     " processes every rank needs its own file; put {rank} in it, e.g. "
                                     "shards/results-{rank}.sqlite");
    }
    if (plan.shard.count > 1 && !f.report.empty() && f.report.find("{rank}") == std::string::npos) {
      std::fprintf(stderr, "note: no per-shard report (--report has no {rank}); `fp4lab report` the merged run\n");
      f.report.clear();
    }
  } else {
    FP4LAB_ASSIGN_OR_RETURN(plan.shard, ParseShard(f.shard));
  }
  f.db = ExpandRank(f.db, plan.shard.index);
  f.report = ExpandRank(f.report, plan.shard.index);
  return Status::Ok();
}

// --preset NAME --tokenizer DIR: --model becomes a synthetic model directory (harness/synthetic_model_dir.h) with a
// copy of that tokenizer. Its weights are random, so every score of the run is labelled synthetic (provenance
// "synthetic_weights", written by the runner) and `gate` refuses the run.
Status ResolvePreset(RunFlags& f) {
  if (f.preset.empty()) {
    if (!f.tokenizer.empty()) {
      return Status::InvalidArgument("--tokenizer: only with --preset (a checkpoint has its own)");
    }
    return Status::Ok();
  }
  if (f.tokenizer.empty()) {
    return Status::InvalidArgument("--preset " + f.preset + ": needs --tokenizer DIR (the model's tokenizer.json, e.g. "
                                   "tests/fixtures/tokenizers/llama3.1-8b-instruct) for the text tasks");
  }
  FP4LAB_ASSIGN_OR_RETURN(const ModelPreset* preset, FindPreset(f.preset));
  SyntheticModelSpec spec;
  spec.config = preset->config;
  spec.origin = "preset " + preset->name;
  FP4LAB_ASSIGN_OR_RETURN(f.model, WriteSyntheticModel(std::move(spec), preset->name, f.tokenizer));
  f.calib.clear();  // synthetic weights are served already quantized: nothing to calibrate
  std::fprintf(stderr, "note: --preset %s runs deterministic random weights: its scores measure speed, not accuracy\n",
               preset->name.c_str());
  return Status::Ok();
}

Result<int> RunRun(RunFlags f) {
  if (!f.report.empty()) FP4LAB_RETURN_IF_ERROR(CheckOutputFile("--report", f.report));
  FP4LAB_RETURN_IF_ERROR(ResolvePreset(f));
  FP4LAB_ASSIGN_OR_RETURN(const CodeSuite suite, ParseCodeSuite(f.suite));
  const std::string suite_name(CodeSuiteName(suite));
  RunPlan plan;
  FP4LAB_RETURN_IF_ERROR(ResolveShard(f, plan));
  plan.model_dir = f.model;
  plan.reference_dir = f.reference;
  plan.precisions = SplitCommaList(f.precisions);
  plan.tasks = SplitCommaList(f.tasks);
  // --suite picks what the task "humaneval" in --tasks runs (tasks/humaneval_task.h); the task is named after it.
  std::replace(plan.tasks.begin(), plan.tasks.end(), std::string("humaneval"), suite_name);
  if (IsBlockDiffusionCheckpoint(f.model)) {
    DiffusionTaskList diffusion = SubstituteDiffusionTasks(plan.tasks);
    for (const std::string& line : diffusion.substitutions) {
      std::fprintf(stderr, "note: %s is a block-diffusion model: %s\n", f.model.c_str(), line.c_str());
    }
    plan.tasks = std::move(diffusion.tasks);
  }
  const bool runs_code = std::any_of(plan.tasks.begin(), plan.tasks.end(), [](const std::string& t) {
    return ParseCodeSuite(t).ok();
  });
  if (runs_code) RemoveSandboxDirsOnSignal();  // before any thread starts
  plan.device = f.device;
  plan.calibration_file = f.calib;
  plan.calibration_tokens = f.calib_tokens;
  plan.tag = f.tag;
  plan.log_samples = f.log_samples;
  plan.no_reference = f.no_reference;
  plan.command_line = f.command_line;
  plan.quiet_progress = f.json;
  nlohmann::json ppl = {{"convention", f.ppl_convention}};
  nlohmann::json fidelity = nlohmann::json::object();
  if (f.ctx > 0) ppl["ctx"] = fidelity["ctx"] = f.ctx;
  if (!f.ppl_data.empty()) ppl["data"] = fidelity["data"] = f.ppl_data;
  nlohmann::json mmlu = {{"shots", f.mmlu_shots}, {"limit", f.limit}};
  if (!f.mmlu_subjects.empty()) mmlu["subjects"] = SplitCommaList(f.mmlu_subjects);
  if (!f.mmlu_data.empty()) mmlu["data_dir"] = f.mmlu_data;
  nlohmann::json humaneval = {{"n", f.humaneval_samples}, {"temperature", f.temperature}, {"top_p", f.top_p},
                              {"seed", f.seed}, {"max_new_tokens", f.max_new_tokens.value_or(HumanevalOptions{}.max_new_tokens)},
                              {"limit", f.limit},
                              {"allow_code_exec", f.allow_code_exec}};
  if (f.humaneval_samples > 1) humaneval["ks"] = std::vector<int>{1, f.humaneval_samples};
  if (!f.humaneval_data.empty()) humaneval["problems"] = f.humaneval_data;
  if (f.fewshot_as_multiturn && f.no_fewshot_as_multiturn) {
    return Status::InvalidArgument("--fewshot-as-multiturn and --no-fewshot-as-multiturn contradict each other");
  }
  FP4LAB_ASSIGN_OR_RETURN(const ChatPromptOptions chat,
                          ChatPromptOptions::Resolve(f.chat_template, f.model,
                                                     f.fewshot_as_multiturn ? 1 : f.no_fewshot_as_multiturn ? 0 : -1,
                                                     f.system_prompt));
  mmlu.update(chat.ToJson());
  humaneval.update(chat.ToJson());
  plan.task_options = {{"perplexity", ppl}, {"fidelity", fidelity}, {"mmlu", mmlu}, {"humaneval", humaneval}};
  plan.task_options["mmlu_generative"] = mmlu;  // the same data, shots and chat flags; lm-eval's max_gen_toks
  if (f.max_new_tokens) plan.task_options["mmlu_generative"]["max_new_tokens"] = *f.max_new_tokens;
  nlohmann::json denoiser_fidelity = nlohmann::json::object();
  if (!f.ppl_data.empty()) denoiser_fidelity["data"] = f.ppl_data;
  plan.task_options["denoiser_fidelity"] = denoiser_fidelity;
  for (const std::string& task : plan.tasks) {
    if (ParseCodeSuite(task).ok()) plan.task_options[task] = humaneval;  // humaneval+ and mbpp+ take the same flags
  }

  // The bf16 reference: always first, unless the user opted out or there is nothing to load it from.
  std::erase(plan.precisions, std::string("bf16"));
  if (!plan.no_reference && f.reference.empty() && IsPreQuantized(f.model)) {
    std::fprintf(stderr,
                 "note: %s is pre-quantized and no --reference was given: there is no BF16 reference in this run, "
                 "so no fidelity or paired deltas (pass --reference BF16_DIR to compare against its base)\n",
                 f.model.c_str());
    plan.no_reference = true;
  }
  if (!plan.no_reference) {
    plan.precisions.insert(plan.precisions.begin(), "bf16");
    std::fprintf(stderr, "reference: bf16 weights of %s\n", (f.reference.empty() ? f.model : f.reference).c_str());
  } else {
    std::erase(plan.tasks, std::string("fidelity"));
    std::erase(plan.tasks, std::string("denoiser_fidelity"));
  }
  if (plan.precisions.empty()) return Status::InvalidArgument("--precisions: nothing left to run");
  // Every precision under test gets its KV-cache format in its label; the bf16 reference keeps the bf16 cache.
  const size_t first_candidate = plan.no_reference ? 0 : 1;
  FP4LAB_ASSIGN_OR_RETURN(
      const std::vector<std::string> candidates,
      ResolvePrecisionLabels({plan.precisions.begin() + first_candidate, plan.precisions.end()}, f.kv_cache,
                             [&](const std::string& weights) { return ModelFor(plan, weights); }));
  plan.precisions.resize(first_candidate);
  for (const std::string& label : candidates) {
    if (label != "bf16" || first_candidate == 0) plan.precisions.push_back(label);
  }

  FP4LAB_ASSIGN_OR_RETURN(RunOutcome outcome, ExecuteRun(plan, f.db, f.resume));
  std::fprintf(stderr, "run %lld complete: %s\n", static_cast<long long>(outcome.run_id), f.db.c_str());
  if (!f.report.empty()) {
    ReportOptions report;
    report.db_path = f.db;
    report.run_ids = {outcome.run_id};
    report.out_path = f.report;
    FP4LAB_RETURN_IF_ERROR(WriteReport(report));
  }
  const bool synthetic = !f.preset.empty();
  if (f.json) {
    nlohmann::json out = {{"run_id", outcome.run_id}, {"db", f.db}, {"resumed", outcome.resumed}, {"report", f.report}};
    if (synthetic) out["synthetic_weights"] = "preset " + f.preset + ": scores measure speed, not accuracy";
    std::cout << out.dump() << "\n";
  } else {
    if (synthetic) {
      std::cout << "note: synthetic weights (preset " << f.preset << "): scores measure speed, not accuracy\n";
    }
    std::cout << "run " << outcome.run_id << " stored in " << f.db;
    if (!f.report.empty()) std::cout << "; report: " << f.report;
    std::cout << "\nnext: fp4lab compare --db " << f.db << "\n";
  }
  return 0;
}

}  // namespace

Command AddRunCommand(CLI::App& root, const std::string& command_line) {
  auto f = std::make_shared<RunFlags>();
  f->command_line = command_line;
  CLI::App* app = root.add_subcommand(
      "run",
      "Run a model in several precisions on identical inputs and store every score.\n"
      "With no flags: the bundled stories260K model, bf16 reference + nvfp4 (W4A4) + nvfp4-w4a16, perplexity and\n"
      "fidelity (KL divergence vs bf16) on the bundled TinyStories sample, into results.sqlite and report.html.");
  auto* model = app->add_option("--model", f->model, "Checkpoint under test (HF directory, bf16 or NVFP4)")
                    ->capture_default_str();
  auto* reference = app->add_option("--reference", f->reference,
                                    "BF16 base of a pre-quantized --model (default: --model itself)");
  auto* preset = app->add_option("--preset", f->preset,
                                 "Instead of --model: synthetic (random) weights of a real shape, to time a full "
                                 "suite at real scale without a download; scores are labelled synthetic and `gate` "
                                 "refuses them. One of: " + PresetNames());
  app->add_option("--tokenizer", f->tokenizer,
                  "With --preset: folder with the model's tokenizer.json (or .json.gz, tokenizer.model), e.g. "
                  "tests/fixtures/tokenizers/llama3.1-8b-instruct");
  preset->excludes(model, reference);
  app->add_option("--precisions", f->precisions,
                  "Comma list of bf16, nvfp4, nvfp4-w4a16, fp8, each optionally +kv-bf16 or +kv-fp8 (bf16 is added "
                  "as the reference)")
      ->capture_default_str();
  app->add_option("--tasks", f->tasks, "Comma list of tasks: perplexity, fidelity, mmlu, humaneval (or humaneval+, "
                  "mbpp+), mmlu_generative (lm-eval mmlu_generative: causal and diffusion models), "
                  "denoiser_fidelity (diffusion models: decoder KL/top-1 vs the reference), latency. On a "
                  "block-diffusion model mmlu runs as mmlu_generative and fidelity as denoiser_fidelity")
      ->capture_default_str();
  app->add_option("--device", f->device, "cpu | cuda[:N] (with --shard auto, cuda picks the rank's GPU)")
      ->capture_default_str();
  app->add_option("--db", f->db, "SQLite result file (created if missing; {rank} = shard index)")
      ->capture_default_str();
  app->add_option("--report", f->report, "HTML report to write after the run (\"\" = none; {rank} = shard index)")
      ->capture_default_str();
  app->add_option("--shard", f->shard, "Run shard i of n (samples split deterministically), or auto: i and n from "
                  "Slurm, torchrun or mpirun (docs/SCALEOUT.md); join the shard files with `merge`")
      ->capture_default_str();
  app->add_option("--tag", f->tag, "Label for this run (gate baselines can name it)");
  app->add_option("--ppl-convention", f->ppl_convention, "lmeval (rolling windows; token/word/byte ppl) or "
                  "llamacpp (chunks, second half scored)")->capture_default_str();
  app->add_option("--ctx", f->ctx, "Window/chunk length for perplexity and fidelity (0 = convention default)")
      ->check(AtLeast(0));
  app->add_option("--ppl-data", f->ppl_data, "Text file for perplexity and fidelity (documents split on "
                  "<|endoftext|>; default: bundled TinyStories sample)");
  AddKvCacheFlag(*app, f->kv_cache)
      ->description("KV-cache format of each precision without its own +kv-FORMAT (e.g. nvfp4+kv-fp8): auto (what "
                    "its checkpoint's kv_cache_quant_algo declares), bf16 or fp8; the bf16 reference keeps bf16");
  app->add_option("--calib", f->calib, "Calibration text for activation scales when quantizing bf16 on load")
      ->capture_default_str();
  app->add_option("--calib-tokens", f->calib_tokens, "Calibration tokens")->capture_default_str()->check(AtLeast(1));
  app->add_option("--limit", f->limit, "MMLU: first N questions per subject; HumanEval: first N problems (0 = all)")
      ->check(AtLeast(0));
  app->add_option("--mmlu-shots", f->mmlu_shots, "MMLU few-shot examples from dev (lm-eval default 0; paper 5)")
      ->capture_default_str()
      ->check(AtLeast(0));
  app->add_option("--mmlu-subjects", f->mmlu_subjects, "Comma list of MMLU subjects (default: all with test data)");
  app->add_option("--mmlu-data", f->mmlu_data,
                  "MMLU in the original release layout: DIR/{dev,val,test}/<subject>_<split>.csv, e.g. the unpacked "
                  "data.tar (all 57 subjects; default: the bundled 3-subject subset)");
  app->add_option("--suite", f->suite,
                  "What the task humaneval runs: humaneval (openai/human-eval tests), humaneval+ or mbpp+ (evalplus "
                  "differential tests with its time limits; needs --humaneval-data)")
      ->capture_default_str();
  app->add_option("--humaneval-data", f->humaneval_data,
                  "Problems of the --suite, plain or .gz: HumanEval.jsonl, or evalplus's HumanEvalPlus.jsonl / "
                  "MbppPlus.jsonl (default for humaneval: the bundled first 10 problems)");
  app->add_option("--samples-per-problem", f->humaneval_samples, "HumanEval draws per problem (pass@k, k <= n)")
      ->capture_default_str()
      ->check(AtLeast(1));
  app->add_option("--temperature", f->temperature, "HumanEval sampling temperature (0 = greedy)")
      ->capture_default_str()
      ->check(InRange(0, 100));
  app->add_option("--top-p", f->top_p, "HumanEval nucleus mass")->capture_default_str()->check(InRange(0, 1));
  app->add_option("--seed", f->seed, "HumanEval sampling seed")->capture_default_str();
  app->add_option("--max-new-tokens", f->max_new_tokens,
                  "Generation limit of HumanEval (default " + std::to_string(HumanevalOptions{}.max_new_tokens) +
                      ") and mmlu_generative (default lm-eval's " + std::to_string(kMmluGenerativeMaxGenToks) + ")")
      ->check(AtLeast(1));
  app->add_flag("--allow-code-exec", f->allow_code_exec,
                "Allow HumanEval to execute generated code (in a bubblewrap sandbox)");
  app->add_option("--chat-template", f->chat_template,
                  "MMLU/HumanEval prompts through a chat template (lm-eval --apply_chat_template): none, auto (the "
                  "checkpoint's, if it has one) or a template FILE (.jinja, or .json with chat_template)")
      ->capture_default_str();
  app->add_flag("--fewshot-as-multiturn", f->fewshot_as_multiturn,
                "Few-shot examples as separate user/assistant turns (the default with a chat template, as lm-eval)");
  app->add_flag("--no-fewshot-as-multiturn", f->no_fewshot_as_multiturn,
                "Few-shot examples and the question collapsed into one user turn");
  app->add_option("--system-prompt", f->system_prompt,
                  "System prompt before the task text (lm-eval --system_instruction)");
  app->add_flag("--resume", f->resume, "Finish the newest incomplete run of the same plan, reusing stored samples "
                "(a complete one is left as it is)");
  app->add_flag("--log-samples", f->log_samples, "Store prompt and output text with each sample");
  app->add_flag("--no-reference", f->no_reference, "Do not run the bf16 reference");
  app->add_flag("--json", f->json, "Print {run_id, db, resumed, report} as JSON");
  return {app, [f] { return RunRun(*f); }};
}

}  // namespace fp4lab
