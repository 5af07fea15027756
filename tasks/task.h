// Task: one evaluation (perplexity, fidelity, mmlu, humaneval, latency) over a LanguageModel.
//
// The runner (harness/runner.cc) drives every task the same way, once per precision:
//   1. Run(): evaluate the items that TaskRun::should_run accepts (shard and --resume filter), handing finished
//      per-item SampleRecords to TaskRun::emit in batches (each batch is stored in one transaction, so a killed run
//      keeps whole batches only);
//   2. Aggregate(): turn ALL stored samples of this precision (earlier partial runs included) into metrics;
//   3. Compare(): paired statistics of a candidate precision against the reference precision on the same items.
// Because metrics come only from stored samples, an interrupted-and-resumed or sharded-and-merged run gives the
// same numbers as an uninterrupted one. Tasks never touch SQLite or the CLI.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/language_model.h"
#include "engine/status.h"
#include "results/records.h"
#include "tasks/diffusion_generation.h"

namespace fp4lab {

// The runner evaluates one precision at a time with only that model loaded: the reference precision (the first)
// runs first, and what a task needs from it later (fidelity: its log-probs) it stores with its samples as
// attachments, read back through `reference_attachment` when a candidate runs.
struct TaskRun {
  LanguageModel& model;              // the precision under test
  std::string precision;             // its name ("bf16", "nvfp4", ...)
  bool is_reference = false;         // `model` is the run's reference precision
  // True if the item with this id should be evaluated now (in this shard and not already stored).
  std::function<bool(const std::string& sample_id)> should_run;
  // Stores a batch of finished items atomically. `task` and `precision` of the records are filled by the runner.
  std::function<Status(std::vector<SampleRecord>&& batch)> emit;
  // Progress: items done so far in this call, items this call will evaluate.
  std::function<void(int64_t done, int64_t total)> progress;
  bool log_samples = false;  // keep prompt and output text in the samples
  // The attachment the reference precision stored with sample `sample_id` of this task, in parts (empty when it
  // stored none). Set by the runner for candidate precisions of tasks with NeedsReference().
  std::function<Result<std::vector<std::string>>(const std::string& sample_id)> reference_attachment;
  // The engine behind `model` when it is one (the runner's models are), for tasks that measure the device itself
  // (latency); null otherwise.
  Engine* engine = nullptr;
  // Block-diffusion generation on a given denoiser (tasks/diffusion_generation.h), for the latency task on a
  // diffusion model; empty otherwise.
  DiffusionSampler diffusion_sampler;
};

// A metric row of `task` at `precision` (the runner fills run_id).
inline MetricRecord MakeMetric(std::string_view task, const std::string& precision, std::string name, double value,
                               int64_t n, const char* unit, const char* higher_is,
                               std::optional<double> stderr_value = std::nullopt) {
  MetricRecord m;
  m.task = std::string(task);
  m.precision = precision;
  m.metric = std::move(name);
  m.value = value;
  m.stderr_value = stderr_value;
  m.n = n;
  m.unit = unit;
  m.higher_is = higher_is;
  return m;
}

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string Name() const = 0;
  // Bumped whenever a change alters the numbers this task produces.
  virtual std::string Version() const = 0;
  // The task's options as stored with the run (convention, context, shots, dataset path, ...).
  virtual nlohmann::json Config() const = 0;
  // sha256 of the data the task reads ("" if none).
  virtual std::string DatasetSha256() const = 0;
  // Fidelity needs the reference precision's outputs (stored as attachments of its samples) beside the
  // candidate's.
  virtual bool NeedsReference() const { return false; }

  // Refuses what Run would refuse about this model (its context, vocabulary, tokenized data, missing opt-ins),
  // without evaluating anything. The runner calls it for every task and precision before any weights load and
  // before the run is stored, on models opened without weights (Engine::OpenWithoutWeights: vocabulary, context,
  // tokenizer), so such a problem leaves no run behind. `reference` is null without a reference.
  virtual Status Preflight(const LanguageModel& model, const LanguageModel* reference) const {
    (void)model;
    (void)reference;
    return Status::Ok();
  }
  virtual Status Run(TaskRun& run) = 0;
  virtual Result<std::vector<MetricRecord>> Aggregate(const std::vector<SampleRecord>& samples) const = 0;
  // Paired comparison of `candidate` with `reference` samples of the same items (empty when not meaningful).
  virtual Result<std::vector<ComparisonRecord>> Compare(const std::vector<SampleRecord>& candidate,
                                                        const std::vector<SampleRecord>& reference) const {
    (void)candidate;
    (void)reference;
    return std::vector<ComparisonRecord>{};
  }
};

}  // namespace fp4lab
