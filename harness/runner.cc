#include "harness/runner.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>

#include "datasets/sha256.h"
#include "engine/engine.h"
#include "engine/file_util.h"
#include "harness/paths.h"
#include "harness/progress.h"
#include "harness/provenance.h"
#include "harness/run_timing.h"
#include "harness/shard_set.h"
#include "results/result_store.h"
#include "tasks/diffusion_generation.h"
#include "tasks/latency_memory.h"
#include "results/synthetic_weights.h"
#include "tasks/registry.h"

namespace fp4lab {

std::string ModelFor(const RunPlan& plan, const std::string& precision) {
  const auto label = ParsePrecisionLabel(precision);
  const bool bf16_weights = label.ok() && label->weights == "bf16";
  if (bf16_weights && !plan.reference_dir.empty()) return plan.reference_dir;
  return plan.model_dir;
}

namespace {

constexpr size_t kBatchSize = 16;  // samples per transaction

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Status ValidatePlan(const RunPlan& plan) {
  if (plan.precisions.empty()) return Status::InvalidArgument("--precisions: at least one precision is needed");
  for (const auto& p : plan.precisions) {
    auto label = ParsePrecisionLabel(p);
    if (!label.ok()) return label.status().WithContext("--precisions");
    FP4LAB_RETURN_IF_ERROR(ParsePrecision(label->weights).status().WithContext("--precisions"));
  }
  if (plan.tasks.empty()) return Status::InvalidArgument("--tasks: at least one task is needed");
  return CheckShardable(plan.tasks, plan.shard);
}

// The newest complete run with `plan_key`, if any.
Result<std::optional<RunRecord>> FindCompleteRun(ResultStore& store, const std::string& plan_key) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store.ListRuns());
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (it->plan_key == plan_key && it->status == RunStatus::kComplete) return std::optional<RunRecord>(*it);
  }
  return std::optional<RunRecord>();
}

struct OpenedTask {
  std::unique_ptr<Task> task;
  nlohmann::json options;
};

// Whether `precision` is the run's reference (the first precision, unless --no-reference).
bool IsReference(const RunPlan& plan, const std::string& precision) {
  return !plan.no_reference && precision == plan.precisions.front();
}

// What a task row stores as its config: the task's resolved Config() (data files by path, defaults filled in), plus
// the run's options it does not echo (e.g. allow_code_exec), so reports name the data behind the dataset sha256 and
// tasks/registry.cc can rebuild the task from the row.
nlohmann::json StoredTaskConfig(const OpenedTask& opened) {
  nlohmann::json config = opened.task->Config();
  if (opened.options.is_object()) {
    for (auto it = opened.options.begin(); it != opened.options.end(); ++it) {
      if (!config.contains(it.key())) config[it.key()] = it.value();
    }
  }
  return config;
}

// Runs one task at one precision: evaluates what is not stored yet, then aggregates from stored samples.
Status RunTaskAtPrecision(ResultStore& store, int64_t run_id, const RunPlan& plan, OpenedTask& opened,
                          const std::string& precision, Engine& engine) {
  Task& task = *opened.task;
  TaskRecord record;
  record.run_id = run_id;
  record.task = task.Name();
  record.precision = precision;
  record.version = task.Version();
  record.dataset_sha256 = task.DatasetSha256();
  record.config = StoredTaskConfig(opened);
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TaskRecord> existing_tasks, store.ListTasks(run_id));
  for (const auto& existing : existing_tasks) {
    if (existing.task == record.task && existing.precision == precision && existing.complete) {
      std::fprintf(stderr, "[%s/%s] already complete, skipped\n", record.task.c_str(), precision.c_str());
      return Status::Ok();
    }
  }
  FP4LAB_RETURN_IF_ERROR(store.UpsertTask(record));
  FP4LAB_ASSIGN_OR_RETURN(std::set<std::string> stored, store.StoredSampleIds(run_id, record.task, precision));

  Progress progress(record.task + "/" + precision,
                    {plan.quiet_progress, [&engine] { return engine.TokensProcessed(); }});
  std::vector<SampleRecord> pending;
  auto flush = [&]() -> Status {
    if (pending.empty()) return Status::Ok();
    Status s = store.WriteSamples(pending);
    pending.clear();
    return s;
  };
  TaskRun run{.model = engine, .precision = precision, .is_reference = IsReference(plan, precision),
              .log_samples = plan.log_samples, .engine = &engine};
  // A block-diffusion model: the latency task times its sampler, with the settings Generate uses.
  if (engine.diffusion_generation()) run.diffusion_sampler = MakeDiffusionSampler(*engine.diffusion_generation());
  if (task.NeedsReference() && !run.is_reference) {
    const std::string reference_precision = plan.precisions.front();
    run.reference_attachment = [&store, run_id, &record, reference_precision](const std::string& sample_id) {
      return store.ReadAttachment(run_id, record.task, reference_precision, sample_id);
    };
  }
  run.should_run = [&](const std::string& id) { return plan.shard.Contains(id) && !stored.count(id); };
  run.emit = [&](std::vector<SampleRecord>&& batch) -> Status {
    for (auto& s : batch) {
      s.run_id = run_id;
      s.task = record.task;
      s.precision = precision;
      pending.push_back(std::move(s));
    }
    return pending.size() >= kBatchSize ? flush() : Status::Ok();
  };
  run.progress = [&](int64_t done, int64_t total) { progress.Update(done, total); };
  FP4LAB_RETURN_IF_ERROR(task.Run(run).WithContext(record.task + " at " + precision));
  FP4LAB_RETURN_IF_ERROR(flush());
  progress.Finish();

  FP4LAB_ASSIGN_OR_RETURN(std::vector<SampleRecord> samples, store.ListSamples(run_id, record.task, precision));
  FP4LAB_ASSIGN_OR_RETURN(std::vector<MetricRecord> metrics, task.Aggregate(samples));
  for (auto& m : metrics) {
    m.run_id = run_id;
    m.task = record.task;
    m.precision = precision;
  }
  std::vector<ComparisonRecord> comparisons;
  const std::string& ref_precision = plan.precisions.front();
  if (!plan.no_reference && precision != ref_precision) {
    FP4LAB_ASSIGN_OR_RETURN(std::vector<SampleRecord> ref_samples,
                            store.ListSamples(run_id, record.task, ref_precision));
    FP4LAB_ASSIGN_OR_RETURN(comparisons, task.Compare(samples, ref_samples));
    for (auto& c : comparisons) {
      c.run_id = run_id;
      c.task = record.task;
      c.precision = precision;
      c.reference_precision = ref_precision;
    }
  }
  record.complete = true;
  return store.CompleteTask(record, metrics, comparisons);
}

// A resumed run must read the same data its stored samples came from: InvalidArgument naming the data file and
// both sha256s otherwise (rather than a pairing error later, or silently mixed numbers).
Status CheckResumedData(ResultStore& store, int64_t run_id, const std::vector<OpenedTask>& tasks) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TaskRecord> stored, store.ListTasks(run_id));
  for (const auto& opened : tasks) {
    const std::string now = opened.task->DatasetSha256();
    for (const auto& record : stored) {
      if (record.task != opened.task->Name() || record.dataset_sha256 == now) continue;
      const nlohmann::json config = opened.task->Config();
      const std::string data = config.contains("data") && config["data"].is_string()
                                   ? config["data"].get<std::string>()
                                   : "the data of task " + record.task;
      return Status::InvalidArgument(data + ": changed since run " + std::to_string(run_id) + " stored samples of " +
                                     record.task + " (sha256 then " + record.dataset_sha256 + ", now " + now +
                                     "); --resume would mix two datasets: restore the file or start a new run");
    }
  }
  return Status::Ok();
}

EngineOptions EngineOptionsFor(const RunPlan& plan, const std::string& precision, const std::string& calibration) {
  EngineOptions options;
  options.model_dir = ModelFor(plan, precision);
  options.precision = precision;
  options.kv_cache = "bf16";  // a label without "+kv-FORMAT" means the bf16 cache (ResolvePrecisionLabels)
  options.device = plan.device;
  options.calibration_text = calibration;
  options.calibration_tokens = plan.calibration_tokens;
  return options;
}

// Every task checks every precision's model (context, vocabulary, tokenized data, opt-ins) before the run row
// exists, on models opened without weights (nothing heavy is resident yet).
Status PreflightTasks(const RunPlan& plan, const std::vector<OpenedTask>& tasks,
                      const std::map<std::string, std::unique_ptr<Engine>>& models) {
  const Engine* reference = plan.no_reference ? nullptr : models.at(plan.precisions.front()).get();
  for (const auto& opened : tasks) {
    for (const auto& precision : plan.precisions) {
      FP4LAB_RETURN_IF_ERROR(opened.task->Preflight(*models.at(precision), reference)
                                 .WithContext(opened.task->Name() + " at " + precision));
    }
  }
  return Status::Ok();
}

// True when every task of the run is stored complete at `precision` (a resumed run skips loading that model).
Result<bool> PrecisionComplete(ResultStore& store, int64_t run_id, const std::vector<OpenedTask>& tasks,
                               const std::string& precision) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TaskRecord> stored, store.ListTasks(run_id));
  for (const auto& opened : tasks) {
    const bool complete = std::any_of(stored.begin(), stored.end(), [&](const TaskRecord& record) {
      return record.task == opened.task->Name() && record.precision == precision && record.complete;
    });
    if (!complete) return false;
  }
  return true;
}

// Loads `precision`, records its provenance (engine facts, NVFP4 path, layer map), runs every task on it, records
// its peak memory, and frees it: only this model is resident while it runs.
Status RunPrecision(ResultStore& store, int64_t run_id, const RunPlan& plan, std::vector<OpenedTask>& tasks,
                    const std::string& precision, const std::string& calibration) {
  const EngineOptions options = EngineOptionsFor(plan, precision, calibration);
  std::fprintf(stderr, "loading %s at %s on %s\n", options.model_dir.c_str(), precision.c_str(), plan.device.c_str());
  FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(options));

  const LinearScheme scheme = engine->precision();
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, store.GetRun(run_id));
  nlohmann::json provenance = run.provenance;
  provenance["engines"][precision] = engine->Provenance();
  // Random weights: label the whole run (results/synthetic_weights.h), so reports, compare and gate can tell.
  if (provenance["engines"][precision].contains("synthetic")) {
    provenance[kSyntheticWeightsKey] = provenance["engines"][precision]["synthetic"];
  }
  auto path = engine->backend().LinearPath(scheme);
  provenance["nvfp4_path"][precision] = {{"path", path.ok() ? *path : "unsupported"},
                                         {"reason", path.ok() ? engine->backend().Name() : path.status().message()}};
  FP4LAB_RETURN_IF_ERROR(store.UpdateRunProvenance(run_id, provenance));
  std::vector<LayerPrecisionRecord> layers;
  for (const auto& l : engine->layer_map()) {
    layers.push_back({run_id, precision, l.layer, LinearSchemeName(l.scheme), l.reason, l.bytes});
  }
  if (!layers.empty()) FP4LAB_RETURN_IF_ERROR(store.WriteLayerPrecisions(layers));

  for (auto& opened : tasks) {
    // A failure leaves the run incomplete (resumable); stored samples are kept.
    FP4LAB_RETURN_IF_ERROR(RunTaskAtPrecision(store, run_id, plan, opened, precision, *engine));
  }

  const PeakMemory peak = MeasurePeakMemory(engine->backend());
  FP4LAB_ASSIGN_OR_RETURN(run, store.GetRun(run_id));
  provenance = run.provenance;
  nlohmann::json& memory = provenance["memory"];
  memory["resident"] = "one model at a time: each precision is loaded, evaluated and freed before the next loads";
  memory["precisions"][precision] = {{"weight_device_bytes", engine->model().WeightDeviceBytes()},
                                     {"source", peak.source}};
  if (peak.bytes) {
    memory["precisions"][precision]["peak_bytes"] = *peak.bytes;
    memory["peak_bytes"] = std::max(memory.value("peak_bytes", int64_t{0}), *peak.bytes);
  }
  return store.UpdateRunProvenance(run_id, provenance);
}

}  // namespace

bool Shard::Contains(const std::string& sample_id) const {
  if (count <= 1) return true;
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : sample_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<int>(h % static_cast<uint64_t>(count)) == index;
}

Result<Shard> ParseShard(const std::string& text) {
  Shard shard;
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    size_t used = 0;
    shard.index = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("index");
    shard.count = std::stoi(text.substr(slash + 1), &used);
    if (used != text.size() - slash - 1) throw std::invalid_argument("count");
  } catch (const std::exception&) {
    return Status::InvalidArgument("--shard '" + text + "': expected i/n, e.g. 0/2");
  }
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    return Status::InvalidArgument("--shard '" + text + "': need 0 <= i < n");
  }
  return shard;
}

nlohmann::json RunPlan::Canonical() const {
  return {{"model_dir", model_dir},       {"reference_dir", reference_dir}, {"precisions", precisions},
          {"no_reference", no_reference}, {"tasks", tasks},                 {"task_options", task_options},
          {"device", device},             {"calibration_file", calibration_file},
          {"calibration_tokens", calibration_tokens},
          {"shard", std::to_string(shard.index) + "/" + std::to_string(shard.count)}};
}

Result<RunOutcome> ExecuteRun(const RunPlan& plan, const std::string& db_path, bool resume) {
  FP4LAB_RETURN_IF_ERROR(ValidatePlan(plan));
  const std::string data_dir = DataDir();
  // Build every task first: bad task names, options or data files fail before any model loads or row is written.
  std::vector<OpenedTask> tasks;
  for (const auto& name : plan.tasks) {
    nlohmann::json options = plan.task_options.contains(name) ? plan.task_options[name] : nlohmann::json::object();
    FP4LAB_ASSIGN_OR_RETURN(auto task, CreateTask(name, options, data_dir));
    tasks.push_back({std::move(task), options});
  }
  std::string calibration_text;
  if (!plan.calibration_file.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(calibration_text, ReadFile(plan.calibration_file));
  }
  // Every precision's model opened without weights, and the device, before the run is created: a config,
  // tokenizer, quant config or task check that fails leaves no run behind, and no weights are read twice.
  std::map<std::string, std::unique_ptr<Engine>> models;
  for (const auto& precision : plan.precisions) {
    FP4LAB_ASSIGN_OR_RETURN(models[precision],
                            Engine::OpenWithoutWeights(EngineOptionsFor(plan, precision, calibration_text)));
  }
  FP4LAB_RETURN_IF_ERROR(PreflightTasks(plan, tasks, models));
  FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<Backend> device, CreateBackend(plan.device));
  const std::string device_name = device->Facts().value("name", plan.device);
  device.reset();

  FP4LAB_ASSIGN_OR_RETURN(auto store, ResultStore::Open(db_path, OpenMode::kCreateOrOpen));
  const std::string plan_key = Sha256Hex(plan.Canonical().dump());
  RunOutcome outcome;
  if (resume) {
    FP4LAB_ASSIGN_OR_RETURN(std::optional<RunRecord> existing, store->FindIncompleteRun(plan_key));
    FP4LAB_ASSIGN_OR_RETURN(std::optional<RunRecord> complete, FindCompleteRun(*store, plan_key));
    if (!existing && complete) {  // nothing left to do (e.g. a re-launch where this shard had finished)
      std::fprintf(stderr, "run %lld of this plan is already complete; nothing to resume\n",
                   static_cast<long long>(complete->id));
      return RunOutcome{complete->id, true};
    }
    if (!existing) {
      return Status::NotFound(db_path + ": --resume found no incomplete run of this plan (same model, precisions, "
                              "tasks, options and shard); run without --resume to start one");
    }
    outcome.run_id = existing->id;
    outcome.resumed = true;
    FP4LAB_RETURN_IF_ERROR(CheckResumedData(*store, outcome.run_id, tasks));
    std::fprintf(stderr, "resuming run %lld\n", static_cast<long long>(outcome.run_id));
  } else {
    RunRecord run;
    run.plan_key = plan_key;
    run.tag = plan.tag;
    run.started_at = UtcNow();
    run.model_path = plan.model_dir;
    run.reference_path = plan.reference_dir.empty() ? plan.model_dir : plan.reference_dir;
    run.device = plan.device;
    run.device_name = device_name;
    run.git_sha = FP4LAB_GIT_SHA;
    FP4LAB_ASSIGN_OR_RETURN(run.provenance, CollectProvenance(plan));
    FP4LAB_ASSIGN_OR_RETURN(outcome.run_id, store->CreateRun(run));
  }

  FP4LAB_ASSIGN_OR_RETURN(RunTimer timer, RunTimer::Start(*store, outcome.run_id));
  // The reference precision first: what candidates are compared with (stored samples, fidelity's stored
  // log-probs) is in the store before they run.
  for (const auto& precision : plan.precisions) {
    FP4LAB_ASSIGN_OR_RETURN(const bool done, PrecisionComplete(*store, outcome.run_id, tasks, precision));
    if (done) {
      std::fprintf(stderr, "[%s] every task already complete, model not loaded\n", precision.c_str());
      continue;
    }
    FP4LAB_RETURN_IF_ERROR(RunPrecision(*store, outcome.run_id, plan, tasks, precision, calibration_text));
  }
  FP4LAB_RETURN_IF_ERROR(timer.Finish(*store));
  FP4LAB_RETURN_IF_ERROR(store->FinishRun(outcome.run_id, RunStatus::kComplete, UtcNow()));
  // Every candidate has been compared: the reference's stored log-probs are no longer needed.
  FP4LAB_ASSIGN_OR_RETURN(const int64_t freed, store->DeleteAttachments(outcome.run_id));
  if (freed > 0) std::fprintf(stderr, "deleted %lld bytes of stored reference log-probs\n", static_cast<long long>(freed));
  return outcome;
}

Status RecomputeRunMetrics(const std::string& db_path, int64_t run_id, const std::string& data_dir) {
  FP4LAB_ASSIGN_OR_RETURN(auto store, ResultStore::Open(db_path, OpenMode::kReadWrite));
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TaskRecord> records, store->ListTasks(run_id));
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, store->GetRun(run_id));
  const std::vector<std::string> precisions =
      run.provenance.value("plan", nlohmann::json::object()).value("precisions", std::vector<std::string>{});
  const bool no_reference = run.provenance.value("plan", nlohmann::json::object()).value("no_reference", false);
  for (auto& record : records) {
    FP4LAB_ASSIGN_OR_RETURN(auto task, CreateTask(record.task, record.config, data_dir));
    FP4LAB_ASSIGN_OR_RETURN(auto samples, store->ListSamples(run_id, record.task, record.precision));
    FP4LAB_ASSIGN_OR_RETURN(auto metrics, task->Aggregate(samples));
    for (auto& m : metrics) {
      m.run_id = run_id;
      m.task = record.task;
      m.precision = record.precision;
    }
    std::vector<ComparisonRecord> comparisons;
    if (!no_reference && !precisions.empty() && record.precision != precisions.front()) {
      FP4LAB_ASSIGN_OR_RETURN(auto ref, store->ListSamples(run_id, record.task, precisions.front()));
      FP4LAB_ASSIGN_OR_RETURN(comparisons, task->Compare(samples, ref));
      for (auto& c : comparisons) {
        c.run_id = run_id;
        c.task = record.task;
        c.precision = record.precision;
        c.reference_precision = precisions.front();
      }
    }
    record.complete = true;
    FP4LAB_RETURN_IF_ERROR(store->CompleteTask(record, metrics, comparisons));
  }
  return Status::Ok();
}

}  // namespace fp4lab
