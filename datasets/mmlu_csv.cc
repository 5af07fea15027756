#include "datasets/mmlu_csv.h"

#include <algorithm>
#include <filesystem>

#include "datasets/csv.h"
#include "datasets/utf8.h"
#include "engine/file_util.h"

namespace fp4lab {
namespace {

constexpr size_t kMmluFields = 6;

bool IsValidSubjectName(std::string_view subject) {
  return !subject.empty() && std::all_of(subject.begin(), subject.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

std::string_view MmluSplitName(MmluSplit split) {
  switch (split) {
    case MmluSplit::kDev: return "dev";
    case MmluSplit::kVal: return "val";
    case MmluSplit::kTest: return "test";
  }
  return "unknown";
}

Result<MmluSplit> ParseMmluSplit(std::string_view name) {
  for (MmluSplit split : {MmluSplit::kDev, MmluSplit::kVal, MmluSplit::kTest}) {
    if (name == MmluSplitName(split)) return split;
  }
  return Status::InvalidArgument("MMLU split must be one of dev, val, test, got '" + std::string(name) + "'");
}

Result<std::vector<MmluQuestion>> ParseMmluCsv(std::string_view text, std::string_view file_name) {
  // Refused here, at read time: questions become prompts and stored JSON text, which must be valid UTF-8.
  if (const auto error = FindInvalidUtf8(text)) {
    return Status::InvalidArgument(std::string(file_name) + ":" + std::to_string(error->line) +
                                   ": invalid UTF-8 at byte offset " + std::to_string(error->byte_offset));
  }
  FP4LAB_ASSIGN_OR_RETURN(std::vector<CsvRecord> records, ParseCsv(text, file_name));
  if (records.empty()) return Status::InvalidArgument(std::string(file_name) + ": no rows, expected MMLU questions");
  std::vector<MmluQuestion> questions;
  questions.reserve(records.size());
  for (CsvRecord& record : records) {
    const std::string where = std::string(file_name) + ":" + std::to_string(record.line) + ": ";
    if (record.fields.size() != kMmluFields) {
      return Status::InvalidArgument(where + "expected 6 fields, got " + std::to_string(record.fields.size()) +
                                     " (question, A, B, C, D, answer)");
    }
    const std::string& letter = record.fields[5];
    if (letter.size() != 1 || letter[0] < 'A' || letter[0] > 'D') {
      return Status::InvalidArgument(where + "answer must be one of A, B, C, D, got '" + letter + "'");
    }
    MmluQuestion question;
    question.question = std::move(record.fields[0]);
    for (int i = 0; i < 4; ++i) question.choices[i] = std::move(record.fields[1 + i]);
    question.answer = letter[0] - 'A';
    question.line = record.line;
    questions.push_back(std::move(question));
  }
  return questions;
}

Result<std::vector<MmluQuestion>> ReadMmluCsv(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseMmluCsv(text, path);
}

std::string MmluSubjectPath(const std::string& data_dir, MmluSplit split, std::string_view subject) {
  const std::string split_name(MmluSplitName(split));
  return (std::filesystem::path(data_dir) / split_name / (std::string(subject) + "_" + split_name + ".csv")).string();
}

Result<std::vector<std::string>> ListMmluSubjects(const std::string& data_dir, MmluSplit split) {
  const std::string split_name(MmluSplitName(split));
  const std::filesystem::path folder = std::filesystem::path(data_dir) / split_name;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    return Status::NotFound(folder.string() + ": no such directory (expected the MMLU release layout " + data_dir +
                            "/{dev,val,test}/<subject>_<split>.csv)");
  }
  const std::string suffix = "_" + split_name + ".csv";
  std::vector<std::string> subjects;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || !name.ends_with(suffix)) continue;
    const std::string subject = name.substr(0, name.size() - suffix.size());
    if (IsValidSubjectName(subject)) subjects.push_back(subject);
  }
  if (ec) return Status::IoError(folder.string() + ": cannot list: " + ec.message());
  if (subjects.empty()) return Status::InvalidArgument(folder.string() + ": no <subject>" + suffix + " files");
  std::sort(subjects.begin(), subjects.end());
  return subjects;
}

Result<std::vector<MmluQuestion>> LoadMmluSubject(const std::string& data_dir, MmluSplit split,
                                                  std::string_view subject) {
  if (!IsValidSubjectName(subject)) {
    return Status::InvalidArgument("MMLU subject must be lowercase letters, digits and '_', got '" +
                                   std::string(subject) + "'");
  }
  return ReadMmluCsv(MmluSubjectPath(data_dir, split, subject));
}

}  // namespace fp4lab
