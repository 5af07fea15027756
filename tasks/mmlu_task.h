// MMLU, scored as lm-evaluation-harness's `mmlu` task (lm_eval/tasks/mmlu/default; EVAL_CONVENTIONS.md section 5).
//
// Per item: the k-shot prompt of tasks/mmlu_prompt.h (shots = the first k rows of the subject's dev split), four
// continuations " A".." D" scored by the summed log-probability of their tokens given the context, prediction =
// argmax (lowest letter on ties, as numpy.argmax).
// Tokenization is lm-eval's HFLM._encode_pair for decoder-only models, exactly: trailing whitespace of the context
// (Python str.rstrip) moves to the front of the continuation, then context_enc = encode(context) and
// continuation_enc = encode(context + continuation)[len(context_enc):].
// Chat templates (--chat-template, --fewshot-as-multiturn, --system-prompt): lm-eval's --apply_chat_template
// semantics, tasks/chat_prompt.h; the context is the rendered conversation and the continuations are "A".."D".
// BOS: fp4lab prepends BOS to every context (Config "bos": true); with a chat template only when the rendered
// context does not already start with the template's bos_token text. lm-eval's HF backend adds it only when the
// tokenizer's add_bos_token is set, and most HF Llama exports leave it off; fp4lab adds it because llama-family
// base models are trained with BOS at the start of every sequence. Compare with lm-eval runs that pass
// add_bos_token=True.
// Contexts longer than the model's MaxContext() are truncated from the left as lm-eval does
// (tasks/mmlu_prompt.h LeadingTokensToDrop); such items are counted (metric "truncated").
// Continuations whose forward input is identical share one forward pass, as lm-eval's request grouping does (when
// every continuation is one token, the usual case for letter answers, the four share the pass over the context);
// the numbers are the same as four separate LogLikelihood calls. Items go to the model 32 at a time as one
// LogLikelihoodBatch (tasks/lm_requests.h), which the engine packs into multi-sequence forward passes
// (bit-identical to one pass per forward on the CPU reference).
//
// Samples: id "<subject>/<row>" (row = 0-based index in the subject's split file), score 1 (correct) / 0 (wrong),
// outcome "correct" / "wrong", data {pred, gold (0..3), logprobs [4] (nats), subject, category (lm-eval group),
// truncated (bool), context_tokens (with BOS, before truncation)}; with log_samples, prompt_text = the context and
// output_text = the predicted continuation.
// Metrics (higher_is "better" for accuracies): acc (micro over items, stderr = sample std / sqrt(n)), acc_macro
// (unweighted mean of subject accuracies, n = subjects), acc/<subject> (stderr as acc), acc_cat/<category>
// (size-weighted over the category's items, lm-eval's pooled-variance stderr), n (items), truncated (items).
// Compare: paired accuracy "acc" (tasks/paired_accuracy.h).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/chat_prompt.h"
#include "tasks/mmlu_data.h"
#include "tasks/mmlu_prompt.h"
#include "tasks/task.h"

namespace fp4lab {

// lm-eval's _encode_pair (see above), without BOS: {context tokens, continuation tokens}.
struct EncodedPair {
  std::vector<TokenId> context;
  std::vector<TokenId> continuation;
};
// Errors: the model's Encode errors.
Result<EncodedPair> EncodePair(const LanguageModel& model, std::string_view context, std::string_view continuation);

class MmluTask : public Task {
 public:
  // Reads every selected subject's split file (and dev file when shots > 0) now, so bad data fails before any model
  // runs. Errors: LoadMmluData's (tasks/mmlu_data.h).
  static Result<std::unique_ptr<MmluTask>> Create(MmluOptions options);

  std::string Name() const override { return "mmlu"; }
  std::string Version() const override { return "1"; }
  // {"data_dir", "split", "subjects": [resolved names], "shots", "limit", "bos", "tokenization": "lm-eval
  //  _encode_pair"} and the chat keys of ChatPromptOptions::ToJson. "bos": true, or with a chat template
  //  "unless the context starts with bos_token" (tasks/chat_prompt.h PrependBos).
  nlohmann::json Config() const override;
  // MmluData::dataset_sha256 (tasks/mmlu_data.h).
  std::string DatasetSha256() const override { return data_.dataset_sha256; }

  // InvalidArgument for a block-diffusion model (tasks/causal_only.h): use mmlu_generative.
  Status Preflight(const LanguageModel& model, const LanguageModel* reference) const override;
  // Errors: the model's Encode/Logits errors; InvalidArgument naming the item when a continuation encodes to no
  // tokens or to more tokens than the model's context; whatever emit returns.
  Status Run(TaskRun& run) override;
  // AggregateMmluSamples("mmlu", "acc", samples) (tasks/mmlu_aggregate.h).
  Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const override;
  Result<std::vector<ComparisonRecord>> Compare(const std::vector<SampleRecord>& candidate,
                                                const std::vector<SampleRecord>& reference) const override;

 private:
  MmluTask(MmluOptions options, MmluData data) : options_(std::move(options)), data_(std::move(data)) {}

  // One item between tokenization and scoring.
  struct PreparedItem {
    std::string id;
    MmluPrompt prompt;
    std::vector<TokenId> context;                      // with BOS, before truncation
    std::array<std::vector<TokenId>, 4> continuations;
    bool truncated = false;
  };
  // Tokenizes one item (lm-eval _encode_pair).
  Result<PreparedItem> PrepareItem(const LanguageModel& model, const MmluSubjectRows& subject, size_t row) const;
  // The sample of a prepared item from the log-probabilities of its four continuations.
  SampleRecord FinishItem(const MmluSubjectRows& subject, const PreparedItem& item,
                          const std::array<double, 4>& logprobs, bool log_samples) const;

  MmluOptions options_;  // subjects resolved (MmluData::subject_names)
  MmluData data_;
};

}  // namespace fp4lab
