// MMLU in the original release layout (Hendrycks et al., data.tar): <data_dir>/{dev,val,test}/<subject>_<split>.csv,
// no header, 6 fields per row: question, choice A, B, C, D, answer letter.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace fp4lab {

struct MmluQuestion {
  std::string question;                // verbatim (may keep a leading space or hold newlines)
  std::array<std::string, 4> choices;  // A, B, C, D, verbatim
  int answer = 0;                      // 0..3 for A..D
  int line = 0;                        // 1-based physical line where the row starts
};

enum class MmluSplit { kDev, kVal, kTest };

// "dev", "val", "test".
std::string_view MmluSplitName(MmluSplit split);
// Inverse of MmluSplitName; InvalidArgument "MMLU split must be one of dev, val, test, got '...'".
Result<MmluSplit> ParseMmluSplit(std::string_view name);

// Parses one subject file's text. Errors name "<file_name>:<line>:" and what was expected, e.g.
// "expected 6 fields, got 5" or "answer must be one of A, B, C, D, got 'E'"; a file without rows is an error.
Result<std::vector<MmluQuestion>> ParseMmluCsv(std::string_view text, std::string_view file_name);
// Reads and parses one file (NotFound naming the path if it is missing).
Result<std::vector<MmluQuestion>> ReadMmluCsv(const std::string& path);

// "<data_dir>/<split>/<subject>_<split>.csv".
std::string MmluSubjectPath(const std::string& data_dir, MmluSplit split, std::string_view subject);

// Subjects that have a file in <data_dir>/<split>/, sorted by name. NotFound if the split folder is missing,
// InvalidArgument if it holds no "<subject>_<split>.csv" file.
Result<std::vector<std::string>> ListMmluSubjects(const std::string& data_dir, MmluSplit split);

// All rows of one subject's split. `subject` must be lowercase letters, digits and '_' (InvalidArgument otherwise).
Result<std::vector<MmluQuestion>> LoadMmluSubject(const std::string& data_dir, MmluSplit split,
                                                  std::string_view subject);

}  // namespace fp4lab
