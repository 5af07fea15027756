#include "datasets/humaneval_jsonl.h"

#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "engine/file_util.h"

namespace fp4lab {
namespace {

std::string Where(std::string_view file_name, int line) {
  return std::string(file_name) + ":" + std::to_string(line) + ": ";
}

// Calls `visit(object, line)` for every non-blank line, after checking it is a JSON object.
Status ForEachJsonObject(std::string_view text, std::string_view file_name,
                         const std::function<Status(const nlohmann::json&, int)>& visit) {
  int line = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view content = text.substr(start, end - start);
    start = end + 1;
    ++line;
    if (content.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = Where(file_name, line);
    FP4LAB_ASSIGN_OR_RETURN(nlohmann::json object, ParseJsonBounded(content, where.substr(0, where.size() - 2)));
    if (!object.is_object()) {
      return Status::InvalidArgument(Where(file_name, line) + "expected a JSON object, got " + object.type_name());
    }
    FP4LAB_RETURN_IF_ERROR(visit(object, line));
  }
  return Status::Ok();
}

Status GetString(const nlohmann::json& object, const char* key, std::string_view file_name, int line,
                 std::string& out) {
  const auto it = object.find(key);
  if (it == object.end()) return Status::InvalidArgument(Where(file_name, line) + "missing key '" + key + "'");
  if (!it->is_string()) {
    return Status::InvalidArgument(Where(file_name, line) + "key '" + key + "' must be a string, got " +
                                   it->type_name());
  }
  out = it->get<std::string>();
  return Status::Ok();
}

}  // namespace

Result<std::vector<HumanEvalProblem>> ParseHumanEvalProblems(std::string_view text, std::string_view file_name) {
  std::vector<HumanEvalProblem> problems;
  std::map<std::string, int> first_line;  // task_id -> line
  FP4LAB_RETURN_IF_ERROR(ForEachJsonObject(text, file_name, [&](const nlohmann::json& object, int line) {
    HumanEvalProblem problem;
    problem.line = line;
    FP4LAB_RETURN_IF_ERROR(GetString(object, "task_id", file_name, line, problem.task_id));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "prompt", file_name, line, problem.prompt));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "entry_point", file_name, line, problem.entry_point));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "canonical_solution", file_name, line, problem.canonical_solution));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "test", file_name, line, problem.test));
    const auto [it, inserted] = first_line.emplace(problem.task_id, line);
    if (!inserted) {
      return Status::InvalidArgument(Where(file_name, line) + "duplicate task_id '" + problem.task_id +
                                     "' (first on line " + std::to_string(it->second) + ")");
    }
    problems.push_back(std::move(problem));
    return Status::Ok();
  }));
  if (problems.empty()) return Status::InvalidArgument(std::string(file_name) + ": no problems (file holds no JSON lines)");
  return problems;
}

Result<std::vector<HumanEvalProblem>> ReadHumanEvalProblems(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseHumanEvalProblems(text, path);
}

Result<std::vector<HumanEvalSample>> ParseHumanEvalSamples(std::string_view text, std::string_view file_name) {
  std::vector<HumanEvalSample> samples;
  FP4LAB_RETURN_IF_ERROR(ForEachJsonObject(text, file_name, [&](const nlohmann::json& object, int line) {
    HumanEvalSample sample;
    sample.line = line;
    FP4LAB_RETURN_IF_ERROR(GetString(object, "task_id", file_name, line, sample.task_id));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "completion", file_name, line, sample.completion));
    samples.push_back(std::move(sample));
    return Status::Ok();
  }));
  if (samples.empty()) return Status::InvalidArgument(std::string(file_name) + ": no samples (file holds no JSON lines)");
  return samples;
}

Result<std::vector<HumanEvalSample>> ReadHumanEvalSamples(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseHumanEvalSamples(text, path);
}

}  // namespace fp4lab
