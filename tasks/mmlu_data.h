// The MMLU rows a task evaluates (shared by the loglikelihood `mmlu` task and `mmlu_generative`): the options that
// select them, and reading and checking the release files once, before any model runs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "datasets/mmlu_csv.h"
#include "engine/status.h"
#include "tasks/chat_prompt.h"

namespace fp4lab {

struct MmluOptions {
  std::string data_dir;               // release layout (datasets/mmlu_csv.h); the CLI passes the bundled datasets/mmlu
  std::string split = "test";         // "dev" | "val" | "test"
  std::vector<std::string> subjects;  // empty = every subject with a file in <data_dir>/<split>/
  int shots = 0;                      // few-shot examples from the dev split (lm-eval's default 0; the paper uses 5)
  int limit = 0;                      // first `limit` rows of each subject (lm-eval --limit); 0 = all rows
  ChatPromptOptions chat;             // chat template, few-shot as multi-turn, system prompt (tasks/chat_prompt.h)
};

// One subject's rows as a task reads them.
struct MmluSubjectRows {
  std::string name;
  std::string category;             // lm-eval group name (tasks/mmlu_categories.h)
  std::vector<MmluQuestion> dev;    // shot rows (the first `shots` of the dev split; empty when shots == 0)
  std::vector<MmluQuestion> items;  // the evaluated rows (after limit)
};

struct MmluData {
  std::vector<std::string> subject_names;  // resolved: options.subjects, or every subject of the split
  std::vector<MmluSubjectRows> subjects;   // in subject_names order
  // sha256 of the manifest "<split>/<subject>_<split>.csv <file sha256>\n" over the files read, in subject order
  // (each subject's split file, then its dev file when shots > 0).
  std::string dataset_sha256;
};

// Reads every selected subject's split file (and dev file when shots > 0). Errors name `task`: InvalidArgument for
// an unknown split, shots < 0, shots above a subject's dev rows, limit < 0 or a subject listed twice; NotFound for
// an unknown subject (tasks/mmlu_categories.h) or a missing file; datasets/mmlu_csv.h parse errors.
Result<MmluData> LoadMmluData(const MmluOptions& options, std::string_view task);

// The sample id of row `row` of `subject`: "<subject>/<row>" (row = 0-based index in the subject's split file).
std::string MmluItemId(std::string_view subject, size_t row);

}  // namespace fp4lab
