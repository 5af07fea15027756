#include "tasks/registry.h"

#include <set>

#include "tasks/denoiser_fidelity.h"
#include "tasks/evalplus_program.h"
#include "tasks/fidelity.h"
#include "tasks/humaneval_task.h"
#include "tasks/latency.h"
#include "tasks/mmlu_generative.h"
#include "tasks/mmlu_task.h"
#include "tasks/perplexity.h"

namespace fp4lab {

namespace {

// Rejects keys outside `allowed`, naming the task and listing the valid keys (typos fail loudly).
Status CheckKeys(const std::string& task, const nlohmann::json& options, const std::set<std::string>& allowed) {
  if (options.is_null()) return Status::Ok();
  if (!options.is_object()) return Status::InvalidArgument("task '" + task + "': options must be a JSON object");
  for (auto it = options.begin(); it != options.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string valid;
      for (const auto& k : allowed) valid += (valid.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("task '" + task + "': unknown option '" + it.key() + "' (valid: " + valid + ")");
    }
  }
  return Status::Ok();
}

template <typename T>
Result<T> Get(const std::string& task, const nlohmann::json& options, const char* key, T fallback) {
  if (!options.is_object() || !options.contains(key) || options[key].is_null()) return fallback;
  try {
    return options[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    return Status::InvalidArgument("task '" + task + "': option '" + key + "' has the wrong type");
  }
}

const char kDefaultText[] = "tinystories/tinystories_valid_sample.txt";

Result<std::unique_ptr<Task>> CreatePerplexity(const nlohmann::json& o, const std::string& data_dir) {
  FP4LAB_RETURN_IF_ERROR(CheckKeys("perplexity", o, {"convention", "ctx", "data"}));
  PerplexityOptions options;
  FP4LAB_ASSIGN_OR_RETURN(std::string convention, Get<std::string>("perplexity", o, "convention", "lmeval"));
  FP4LAB_ASSIGN_OR_RETURN(options.convention, ParsePerplexityConvention(convention));
  FP4LAB_ASSIGN_OR_RETURN(options.ctx, Get<int>("perplexity", o, "ctx", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.data_path, Get<std::string>("perplexity", o, "data", data_dir + "/" + kDefaultText));
  FP4LAB_ASSIGN_OR_RETURN(auto task, PerplexityTask::Create(options));
  return std::unique_ptr<Task>(std::move(task));
}

Result<std::unique_ptr<Task>> CreateFidelity(const nlohmann::json& o, const std::string& data_dir) {
  FP4LAB_RETURN_IF_ERROR(CheckKeys("fidelity", o, {"ctx", "data"}));
  FidelityOptions options;
  FP4LAB_ASSIGN_OR_RETURN(options.ctx, Get<int>("fidelity", o, "ctx", 512));
  FP4LAB_ASSIGN_OR_RETURN(options.data_path, Get<std::string>("fidelity", o, "data", data_dir + "/" + kDefaultText));
  FP4LAB_ASSIGN_OR_RETURN(auto task, FidelityTask::Create(options));
  return std::unique_ptr<Task>(std::move(task));
}

Result<std::unique_ptr<Task>> CreateDenoiserFidelity(const nlohmann::json& o, const std::string& data_dir) {
  // "convention" is an informational key the task writes into its own stored config.
  const std::string name = "denoiser_fidelity";
  FP4LAB_RETURN_IF_ERROR(CheckKeys(name, o, {"data", "prompts", "prompt_tokens", "seed", "convention"}));
  DenoiserFidelityOptions options;
  FP4LAB_ASSIGN_OR_RETURN(options.data_path, Get<std::string>(name, o, "data", data_dir + "/" + kDefaultText));
  FP4LAB_ASSIGN_OR_RETURN(options.prompts, Get<int>(name, o, "prompts", options.prompts));
  FP4LAB_ASSIGN_OR_RETURN(options.prompt_tokens, Get<int>(name, o, "prompt_tokens", options.prompt_tokens));
  FP4LAB_ASSIGN_OR_RETURN(options.seed, Get<uint64_t>(name, o, "seed", options.seed));
  FP4LAB_ASSIGN_OR_RETURN(auto task, DenoiserFidelityTask::Create(options));
  return std::unique_ptr<Task>(std::move(task));
}

Result<std::unique_ptr<Task>> CreateMmlu(const nlohmann::json& o, const std::string& data_dir) {
  // "bos" and "tokenization" are informational keys the task writes into its own stored config.
  FP4LAB_RETURN_IF_ERROR(CheckKeys("mmlu", o, {"data_dir", "split", "subjects", "shots", "limit", "bos",
                                               "tokenization", "chat_template", "fewshot_as_multiturn",
                                               "system_prompt"}));
  MmluOptions options;
  FP4LAB_ASSIGN_OR_RETURN(options.data_dir, Get<std::string>("mmlu", o, "data_dir", data_dir + "/mmlu"));
  FP4LAB_ASSIGN_OR_RETURN(options.split, Get<std::string>("mmlu", o, "split", "test"));
  FP4LAB_ASSIGN_OR_RETURN(options.subjects, Get<std::vector<std::string>>("mmlu", o, "subjects", {}));
  FP4LAB_ASSIGN_OR_RETURN(options.shots, Get<int>("mmlu", o, "shots", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.limit, Get<int>("mmlu", o, "limit", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.chat, ChatPromptOptions::FromJson(o, "mmlu"));
  FP4LAB_ASSIGN_OR_RETURN(auto task, MmluTask::Create(options));
  return std::unique_ptr<Task>(std::move(task));
}

Result<std::unique_ptr<Task>> CreateMmluGenerative(const nlohmann::json& o, const std::string& data_dir) {
  // "bos", "until" and "convention" are informational keys the task writes into its own stored config.
  const std::string name = "mmlu_generative";
  FP4LAB_RETURN_IF_ERROR(CheckKeys(name, o, {"data_dir", "split", "subjects", "shots", "limit", "max_new_tokens",
                                             "bos", "until", "convention", "chat_template", "fewshot_as_multiturn",
                                             "system_prompt"}));
  MmluGenerativeOptions options;
  FP4LAB_ASSIGN_OR_RETURN(options.mmlu.data_dir, Get<std::string>(name, o, "data_dir", data_dir + "/mmlu"));
  FP4LAB_ASSIGN_OR_RETURN(options.mmlu.split, Get<std::string>(name, o, "split", "test"));
  FP4LAB_ASSIGN_OR_RETURN(options.mmlu.subjects, Get<std::vector<std::string>>(name, o, "subjects", {}));
  FP4LAB_ASSIGN_OR_RETURN(options.mmlu.shots, Get<int>(name, o, "shots", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.mmlu.limit, Get<int>(name, o, "limit", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.mmlu.chat, ChatPromptOptions::FromJson(o, name));
  FP4LAB_ASSIGN_OR_RETURN(options.max_new_tokens, Get<int>(name, o, "max_new_tokens", kMmluGenerativeMaxGenToks));
  FP4LAB_ASSIGN_OR_RETURN(auto task, MmluGenerativeTask::Create(options));
  return std::unique_ptr<Task>(std::move(task));
}

// humaneval, humaneval+ and mbpp+ share one task class and one option set; only humaneval has bundled problems.
Result<std::unique_ptr<Task>> CreateCodeSuite(CodeSuite suite, const nlohmann::json& o, const std::string& data_dir) {
  const std::string name(CodeSuiteName(suite));
  // "suite", "stop" and "bos" are informational keys the task writes into its own stored config.
  FP4LAB_RETURN_IF_ERROR(CheckKeys(name, o, {"suite", "problems", "n", "temperature", "top_k", "top_p", "seed",
                                             "max_new_tokens", "ks", "limit", "timeout_s", "stop", "bos",
                                             "allow_code_exec", "chat_template", "fewshot_as_multiturn",
                                             "system_prompt"}));
  HumanevalOptions options;
  options.suite = suite;
  if (suite != CodeSuite::kHumanEval) options.sandbox.limits = EvalPlusSandboxLimits();
  const std::string bundled = suite == CodeSuite::kHumanEval ? data_dir + "/humaneval/humaneval_sample.jsonl" : "";
  FP4LAB_ASSIGN_OR_RETURN(options.problems_path, Get<std::string>(name, o, "problems", bundled));
  FP4LAB_ASSIGN_OR_RETURN(options.samples_per_problem, Get<int>(name, o, "n", 1));
  FP4LAB_ASSIGN_OR_RETURN(options.sampling.temperature, Get<float>(name, o, "temperature", 0.0f));
  FP4LAB_ASSIGN_OR_RETURN(options.sampling.top_k, Get<int>(name, o, "top_k", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.sampling.top_p, Get<float>(name, o, "top_p", 1.0f));
  FP4LAB_ASSIGN_OR_RETURN(options.sampling.seed, Get<uint64_t>(name, o, "seed", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.max_new_tokens, Get<int>(name, o, "max_new_tokens", 512));
  FP4LAB_ASSIGN_OR_RETURN(options.ks, Get<std::vector<int>>(name, o, "ks", {1}));
  FP4LAB_ASSIGN_OR_RETURN(options.limit, Get<int>(name, o, "limit", 0));
  FP4LAB_ASSIGN_OR_RETURN(options.sandbox.limits.wall_timeout_s,
                          Get<double>(name, o, "timeout_s", options.sandbox.limits.wall_timeout_s));
  FP4LAB_ASSIGN_OR_RETURN(options.sandbox.allow_code_exec, Get<bool>(name, o, "allow_code_exec", false));
  FP4LAB_ASSIGN_OR_RETURN(options.chat, ChatPromptOptions::FromJson(o, name));
  FP4LAB_ASSIGN_OR_RETURN(auto task, HumanevalTask::Create(options));
  return std::unique_ptr<Task>(std::move(task));
}

Result<std::unique_ptr<Task>> CreateHumaneval(const nlohmann::json& o, const std::string& data_dir) {
  return CreateCodeSuite(CodeSuite::kHumanEval, o, data_dir);
}

Result<std::unique_ptr<Task>> CreateHumanevalPlus(const nlohmann::json& o, const std::string& data_dir) {
  return CreateCodeSuite(CodeSuite::kHumanEvalPlus, o, data_dir);
}

Result<std::unique_ptr<Task>> CreateMbppPlus(const nlohmann::json& o, const std::string& data_dir) {
  return CreateCodeSuite(CodeSuite::kMbppPlus, o, data_dir);
}

Result<std::unique_ptr<Task>> CreateLatency(const nlohmann::json& o, const std::string&) {
  // "timed" and "excluded" are informational keys the task writes into its own stored config.
  FP4LAB_RETURN_IF_ERROR(CheckKeys("latency", o, {"prompt_lengths", "batches", "decode_tokens", "decode_prompt",
                                                  "repetitions", "warmup", "seed", "timed", "excluded"}));
  LatencyOptions options;
  FP4LAB_ASSIGN_OR_RETURN(options.prompt_lengths,
                          Get<std::vector<int>>("latency", o, "prompt_lengths", options.prompt_lengths));
  FP4LAB_ASSIGN_OR_RETURN(options.batches, Get<std::vector<int>>("latency", o, "batches", options.batches));
  FP4LAB_ASSIGN_OR_RETURN(options.decode_tokens, Get<int>("latency", o, "decode_tokens", options.decode_tokens));
  FP4LAB_ASSIGN_OR_RETURN(options.decode_prompt, Get<int>("latency", o, "decode_prompt", options.decode_prompt));
  FP4LAB_ASSIGN_OR_RETURN(options.repetitions, Get<int>("latency", o, "repetitions", options.repetitions));
  FP4LAB_ASSIGN_OR_RETURN(options.warmup, Get<int>("latency", o, "warmup", options.warmup));
  FP4LAB_ASSIGN_OR_RETURN(options.seed, Get<uint64_t>("latency", o, "seed", options.seed));
  FP4LAB_ASSIGN_OR_RETURN(auto task, LatencyTask::Create(options));
  return std::unique_ptr<Task>(std::move(task));
}

struct TaskFactory {
  const char* name;
  Result<std::unique_ptr<Task>> (*create)(const nlohmann::json& options, const std::string& data_dir);
};

const TaskFactory kTasks[] = {
    {"perplexity", &CreatePerplexity},
    {"fidelity", &CreateFidelity},
    {"denoiser_fidelity", &CreateDenoiserFidelity},
    {"mmlu", &CreateMmlu},
    {"mmlu_generative", &CreateMmluGenerative},
    {"humaneval", &CreateHumaneval},
    {"humaneval+", &CreateHumanevalPlus},
    {"mbpp+", &CreateMbppPlus},
    {"latency", &CreateLatency},
};

}  // namespace

std::vector<std::string> TaskNames() {
  std::vector<std::string> names;
  for (const auto& t : kTasks) names.push_back(t.name);
  return names;
}

Result<std::unique_ptr<Task>> CreateTask(const std::string& name, const nlohmann::json& options,
                                         const std::string& data_dir) {
  for (const auto& t : kTasks) {
    if (name == t.name) return t.create(options, data_dir);
  }
  std::string valid;
  for (const auto& t : kTasks) valid += (valid.empty() ? "" : ", ") + std::string(t.name);
  return Status::InvalidArgument("unknown task '" + name + "' (valid: " + valid + ")");
}

}  // namespace fp4lab
