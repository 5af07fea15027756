#include "datasets/humaneval_jsonl.h"

#include <algorithm>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "engine/file_util.h"

namespace fp4lab {
namespace {

std::string Where(std::string_view file_name, int line) {
  return std::string(file_name) + ":" + std::to_string(line) + ": ";
}

// Calls `visit(object, line, line_text)` for every non-blank line, after checking it is a JSON object.
Status ForEachJsonObject(std::string_view text, std::string_view file_name,
                         const std::function<Status(const nlohmann::json&, int, std::string_view)>& visit) {
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
    FP4LAB_RETURN_IF_ERROR(visit(object, line, content));
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

// The file's text; a ".gz" path is inflated.
Result<std::string> ReadProblemText(const std::string& path) {
  if (path.ends_with(".gz")) return ReadGzipFile(path);
  return ReadFile(path);
}

// An array whose every element is an array (one argument list per test); `count` = its length.
Status CountInputs(const nlohmann::json& object, const char* key, std::string_view file_name, int line,
                   size_t& count) {
  const auto it = object.find(key);
  if (it == object.end()) return Status::InvalidArgument(Where(file_name, line) + "missing key '" + key + "'");
  const bool well_formed =
      it->is_array() && std::all_of(it->begin(), it->end(), [](const nlohmann::json& args) { return args.is_array(); });
  if (!well_formed) {
    return Status::InvalidArgument(Where(file_name, line) + "key '" + key + "' must be an array of argument lists");
  }
  count = it->size();
  return Status::Ok();
}

// Refuses a second problem with the same task_id.
Status CheckUnique(std::map<std::string, int>& first_line, const std::string& task_id, std::string_view file_name,
                   int line) {
  const auto [it, inserted] = first_line.emplace(task_id, line);
  if (inserted) return Status::Ok();
  return Status::InvalidArgument(Where(file_name, line) + "duplicate task_id '" + task_id + "' (first on line " +
                                 std::to_string(it->second) + ")");
}

}  // namespace

Result<std::vector<HumanEvalProblem>> ParseHumanEvalProblems(std::string_view text, std::string_view file_name) {
  std::vector<HumanEvalProblem> problems;
  std::map<std::string, int> first_line;  // task_id -> line
  FP4LAB_RETURN_IF_ERROR(
      ForEachJsonObject(text, file_name, [&](const nlohmann::json& object, int line, std::string_view) {
    HumanEvalProblem problem;
    problem.line = line;
    FP4LAB_RETURN_IF_ERROR(GetString(object, "task_id", file_name, line, problem.task_id));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "prompt", file_name, line, problem.prompt));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "entry_point", file_name, line, problem.entry_point));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "canonical_solution", file_name, line, problem.canonical_solution));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "test", file_name, line, problem.test));
    FP4LAB_RETURN_IF_ERROR(CheckUnique(first_line, problem.task_id, file_name, line));
    problems.push_back(std::move(problem));
    return Status::Ok();
  }));
  if (problems.empty()) return Status::InvalidArgument(std::string(file_name) + ": no problems (file holds no JSON lines)");
  return problems;
}

Result<std::vector<HumanEvalProblem>> ReadHumanEvalProblems(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadProblemText(path));
  return ParseHumanEvalProblems(text, path);
}

Result<std::vector<HumanEvalProblem>> ParseEvalPlusProblems(std::string_view text, std::string_view file_name) {
  std::vector<HumanEvalProblem> problems;
  std::map<std::string, int> first_line;  // task_id -> line
  const auto visit = [&](const nlohmann::json& object, int line, std::string_view line_text) -> Status {
    HumanEvalProblem problem;
    problem.line = line;
    problem.evalplus_json = std::string(line_text);
    FP4LAB_RETURN_IF_ERROR(GetString(object, "task_id", file_name, line, problem.task_id));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "prompt", file_name, line, problem.prompt));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "entry_point", file_name, line, problem.entry_point));
    FP4LAB_RETURN_IF_ERROR(GetString(object, "canonical_solution", file_name, line, problem.canonical_solution));
    FP4LAB_RETURN_IF_ERROR(CountInputs(object, "base_input", file_name, line, problem.base_tests));
    FP4LAB_RETURN_IF_ERROR(CountInputs(object, "plus_input", file_name, line, problem.plus_tests));
    const auto atol = object.find("atol");
    if (atol == object.end() || !atol->is_number() || atol->get<double>() < 0.0) {
      return Status::InvalidArgument(Where(file_name, line) + "key 'atol' must be a number >= 0");
    }
    problem.atol = atol->get<double>();
    FP4LAB_RETURN_IF_ERROR(CheckUnique(first_line, problem.task_id, file_name, line));
    problems.push_back(std::move(problem));
    return Status::Ok();
  };
  FP4LAB_RETURN_IF_ERROR(ForEachJsonObject(text, file_name, visit));
  if (problems.empty()) {
    return Status::InvalidArgument(std::string(file_name) + ": no problems (file holds no JSON lines)");
  }
  return problems;
}

Result<std::vector<HumanEvalProblem>> ReadEvalPlusProblems(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadProblemText(path));
  return ParseEvalPlusProblems(text, path);
}

Result<std::vector<HumanEvalSample>> ParseHumanEvalSamples(std::string_view text, std::string_view file_name) {
  std::vector<HumanEvalSample> samples;
  FP4LAB_RETURN_IF_ERROR(
      ForEachJsonObject(text, file_name, [&](const nlohmann::json& object, int line, std::string_view) {
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
