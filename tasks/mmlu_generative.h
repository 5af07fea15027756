// MMLU as a generative task ("mmlu_generative"), lm-evaluation-harness's `mmlu_generative` group
// (lm_eval/tasks/mmlu/generative/_default_template_yaml, version 3), so causal and block-diffusion models are scored
// on the same footing: both answer through LanguageModel::Generate (a diffusion model runs its block sampler there).
//
// Prompt: the same k-shot prompt as the loglikelihood `mmlu` task (tasks/mmlu_prompt.h; its doc_to_text, the
// subject description, first_n shots with " <letter>" targets), with the same BOS and chat-template rules
// (tasks/mmlu_task.h, tasks/chat_prompt.h). The context is encoded as is (generate_until has no _encode_pair).
// Generation (lm-eval generate_until with the yaml's generation_kwargs): greedy, until ["</s>", "\n"] plus the
// model's EOS ids, max_gen_toks = 256 (lm-eval's default; option max_new_tokens). A context longer than
// MaxContext() - max_new_tokens keeps its last MaxContext() - max_new_tokens tokens, as lm-eval's left truncation
// to max_length - max_gen_toks does; such items are counted ("truncated").
// Answer extraction: the filter `get_response`: regex "^(.*?)(?=\n|$)" (the first line, .strip()), then
// remove_whitespace (.strip()), then regex "^(.*?)\s*$" (trailing whitespace) and take_first; together the first line
// with Python str.strip() (MmluGenerativeResponse). Scoring: exact_match with ignore_case and ignore_punctuation
// against the gold letter "A".."D": the response with ASCII punctuation (Python's string.punctuation) removed and
// lowercased must equal the lowercased letter, so "B", " (b)" and "B." score, "B. Paris" does not
// (MmluGenerativeLetter). lm-eval lowercases with numpy (Unicode); no non-ASCII character lowercases to a..d, so
// lowercasing ASCII only gives the same verdicts.
//
// Samples: id "<subject>/<row>", score 1 (exact match) / 0, outcome "correct" / "wrong", data {response (after the
// filter), pred ("A".."D", or "" when the response names no letter), gold (0..3), subject, category, truncated,
// context_tokens (with BOS, before truncation), completion_tokens, finish ("stop" | "eos" | "length")}; with
// log_samples, prompt_text = the context and output_text = the generation cut at the first stop string.
// Items go to the model 32 at a time as one GenerateUntilBatch (batched decode in the engine).
// Metrics: AggregateMmluSamples("mmlu_generative", "exact_match") (tasks/mmlu_aggregate.h) plus no_letter (items
// whose response names no letter, "items", neutral). Compare: paired accuracy "exact_match".
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/humaneval_task.h"  // GenerationResult
#include "tasks/mmlu_data.h"
#include "tasks/mmlu_prompt.h"
#include "tasks/task.h"

namespace fp4lab {

// The yaml's generation_kwargs.until (the model's EOS ids end generation too).
inline constexpr std::array<std::string_view, 2> kMmluGenerativeUntil = {"</s>", "\n"};
// lm-eval's default max_gen_toks (HFLM.max_gen_toks), which the yaml does not override.
inline constexpr int kMmluGenerativeMaxGenToks = 256;

// The `get_response` filter: the text before the first "\n", Python-stripped.
std::string MmluGenerativeResponse(std::string_view generation);
// The letter ('A'..'D') that `response` matches under exact_match(ignore_case, ignore_punctuation), or '\0'.
char MmluGenerativeLetter(std::string_view response);

struct MmluGenerativeOptions {
  MmluOptions mmlu;                                 // data, split, subjects, shots, limit, chat template
  int max_new_tokens = kMmluGenerativeMaxGenToks;  // lm-eval max_gen_toks
};

class MmluGenerativeTask : public Task {
 public:
  // Reads the data now. Errors: LoadMmluData's (tasks/mmlu_data.h); InvalidArgument for max_new_tokens < 1.
  static Result<std::unique_ptr<MmluGenerativeTask>> Create(MmluGenerativeOptions options);

  std::string Name() const override { return "mmlu_generative"; }
  std::string Version() const override { return "1"; }
  // {"data_dir", "split", "subjects", "shots", "limit", "bos", "max_new_tokens", "convention", "until"} and the chat
  // keys of ChatPromptOptions::ToJson.
  nlohmann::json Config() const override;
  std::string DatasetSha256() const override { return data_.dataset_sha256; }

  // InvalidArgument when the model's context is not longer than max_new_tokens (lm-eval asserts the same).
  Status Preflight(const LanguageModel& model, const LanguageModel* reference) const override;
  // Preflight's errors; the model's Encode/Generate errors; whatever emit returns.
  Status Run(TaskRun& run) override;
  // AggregateMmluSamples's errors; InvalidArgument for a sample without a string "pred".
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;
  Result<std::vector<ComparisonRecord>> Compare(const std::vector<SampleRecord>& candidate,
                                                const std::vector<SampleRecord>& reference) const override;

 private:
  MmluGenerativeTask(MmluGenerativeOptions options, MmluData data)
      : options_(std::move(options)), data_(std::move(data)) {}
  // One item between tokenization and generation.
  struct PreparedItem {
    std::string id;
    const MmluSubjectRows* subject = nullptr;
    MmluPrompt prompt;
    std::vector<TokenId> context;  // with BOS, before truncation
    std::vector<TokenId> input;    // the context's last MaxContext() - max_new_tokens tokens
  };
  // Builds and tokenizes row `row` of `subject`.
  Result<PreparedItem> PrepareItem(const LanguageModel& model, const MmluSubjectRows& subject, size_t row) const;
  // The sample of a prepared item from its generation.
  SampleRecord FinishItem(const PreparedItem& item, const GenerationResult& generation, bool log_samples) const;

  MmluGenerativeOptions options_;  // subjects resolved (MmluData::subject_names)
  MmluData data_;
};

}  // namespace fp4lab
