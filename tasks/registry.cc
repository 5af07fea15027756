#include "tasks/registry.h"

#include <set>

#include "tasks/fidelity.h"
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

struct TaskFactory {
  const char* name;
  Result<std::unique_ptr<Task>> (*create)(const nlohmann::json& options, const std::string& data_dir);
};

const TaskFactory kTasks[] = {
    {"perplexity", &CreatePerplexity},
    {"fidelity", &CreateFidelity},
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
