#include "harness/shard_set.h"

#include <algorithm>
#include <map>

namespace fp4lab {
namespace {

std::string ShardText(const Shard& s) { return std::to_string(s.index) + "/" + std::to_string(s.count); }

std::string Label(const ShardFile& f) { return f.path + " (shard " + ShardText(f.shard) + ")"; }

// The newest run of the file at `path`, which must be complete with every task complete (rule 1).
Result<ShardFile> OpenShardFile(const std::string& path) {
  ShardFile file;
  file.path = path;
  FP4LAB_ASSIGN_OR_RETURN(file.store, ResultStore::Open(path, OpenMode::kReadOnly));
  FP4LAB_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, file.store->ListRuns());
  if (runs.empty()) return Status::InvalidArgument(path + " holds no run");
  file.run = runs.back();
  const std::string run_label = path + " run " + std::to_string(file.run.id);
  FP4LAB_ASSIGN_OR_RETURN(file.tasks, file.store->ListTasks(file.run.id));
  std::string incomplete;
  for (const TaskRecord& t : file.tasks) {
    if (!t.complete) incomplete += (incomplete.empty() ? "" : ", ") + t.task + "/" + t.precision;
  }
  if (file.run.status != RunStatus::kComplete || !incomplete.empty()) {
    return Status::InvalidArgument(run_label + " is " + RunStatusName(file.run.status) +
                                   (incomplete.empty() ? "" : ", tasks not complete: " + incomplete) +
                                   "; finish it first (the same `fp4lab run` command with --resume)");
  }
  const nlohmann::json plan = file.run.provenance.value("plan", nlohmann::json::object());
  const std::string shard = plan.value("shard", "");
  auto parsed = ParseShard(shard);
  if (!parsed.ok()) {
    return Status::InvalidArgument(run_label + " records no valid shard (provenance plan.shard '" + shard +
                                   "'); was it written by fp4lab run?");
  }
  file.shard = *parsed;
  return file;
}

// Rule 3 over files sorted by shard index.
Status CheckCompleteSet(const std::vector<ShardFile>& files) {
  const int n = files.front().shard.count;
  for (const ShardFile& f : files) {
    if (f.shard.count != n) {
      return Status::InvalidArgument("the shards split the work differently: " + Label(files.front()) +
                                     " but " + Label(f) + "; merge the files of one split");
    }
  }
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].shard.index == files[i - 1].shard.index) {
      return Status::InvalidArgument("shard " + ShardText(files[i].shard) + " is given twice: " +
                                     files[i - 1].path + " and " + files[i].path);
    }
  }
  std::string missing, given;
  size_t next = 0;
  for (int i = 0; i < n; ++i) {
    if (next < files.size() && files[next].shard.index == i) {
      given += (given.empty() ? "" : ", ") + Label(files[next++]);
    } else {
      missing += (missing.empty() ? "" : ", ") + std::to_string(i) + "/" + std::to_string(n);
    }
  }
  if (!missing.empty()) {
    return Status::InvalidArgument("shard(s) " + missing + " missing: got only " + given + "; pass all " +
                                   std::to_string(n) + " shard files");
  }
  return Status::Ok();
}

// Everything that must be equal across the shards of one run (rule 4), as one JSON object.
nlohmann::json PlanIdentity(const ShardFile& f) {
  const nlohmann::json& p = f.run.provenance;
  nlohmann::json plan = p.value("plan", nlohmann::json::object());
  plan.erase("shard");
  plan.erase("device");
  nlohmann::json id = {{"plan", plan}};
  for (const char* key : {"model_files", "reference_files", "calibration_sha256", "fp4lab"}) {
    id[key] = p.value(key, nlohmann::json());
  }
  for (const TaskRecord& t : f.tasks) {
    id["tasks"][t.task][t.precision] = {{"version", t.version}, {"dataset_sha256", t.dataset_sha256},
                                        {"config", t.config}};
  }
  const nlohmann::json paths = p.value("nvfp4_path", nlohmann::json::object());
  for (auto it = paths.begin(); it != paths.end(); ++it) {
    id["execution_path"][it.key()] = it->is_object() ? it->value("path", nlohmann::json()) : *it;
  }
  return id;
}

std::string Excerpt(const nlohmann::json& doc, const std::string& pointer) {
  const nlohmann::json::json_pointer ptr(pointer);
  if (!doc.contains(ptr)) return "absent";
  std::string text = doc.at(ptr).dump();
  return text.size() > 160 ? text.substr(0, 157) + "..." : text;
}

Status CheckOnePlan(const std::vector<ShardFile>& files) {
  const nlohmann::json first = PlanIdentity(files.front());
  for (size_t i = 1; i < files.size(); ++i) {
    const nlohmann::json other = PlanIdentity(files[i]);
    const nlohmann::json patch = nlohmann::json::diff(first, other);
    if (patch.empty()) continue;
    const std::string pointer = patch.front().value("path", "");
    return Status::InvalidArgument(Label(files.front()) + " and " + Label(files[i]) +
                                   " ran different plans: " + pointer.substr(1) + " is " + Excerpt(first, pointer) +
                                   " in " + files.front().path + " but " + Excerpt(other, pointer) + " in " +
                                   files[i].path);
  }
  return Status::Ok();
}

// Rule 5: the shard assignment of every stored sample.
Status CheckSamplesBelong(ShardFile& f) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<SampleRecord> samples, f.store->ListSamples(f.run.id, "", ""));
  f.samples = static_cast<int64_t>(samples.size());
  for (const SampleRecord& s : samples) {
    if (!f.shard.Contains(s.sample_id)) {
      return Status::InvalidArgument(Label(f) + " holds sample '" + s.sample_id + "' of " + s.task + "/" +
                                     s.precision + ", which belongs to another shard; the file was not written by "
                                     "this shard split");
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsNeverSharded(const std::string& task) { return task == "latency"; }

Status CheckShardable(const std::vector<std::string>& tasks, const Shard& shard) {
  if (shard.count <= 1) return Status::Ok();
  for (const std::string& task : tasks) {
    if (IsNeverSharded(task)) {
      return Status::InvalidArgument("--shard " + ShardText(shard) + " with task '" + task + "': " + task +
                                     " is never sharded (its timings and memory peaks describe one process on one "
                                     "device); run it in a separate, unsharded run");
    }
  }
  return Status::Ok();
}

Result<std::vector<ShardFile>> OpenShardSet(const std::vector<std::string>& paths) {
  if (paths.empty()) return Status::InvalidArgument("name at least one shard file");
  std::vector<ShardFile> files;
  for (const std::string& path : paths) {
    FP4LAB_ASSIGN_OR_RETURN(ShardFile file, OpenShardFile(path));
    for (const TaskRecord& t : file.tasks) {
      if (file.shard.count > 1 && IsNeverSharded(t.task)) {
        return Status::InvalidArgument(Label(file) + " holds task '" + t.task + "', which is never "
                                       "sharded (its timings describe one process on one device); run it unsharded");
      }
    }
    files.push_back(std::move(file));
  }
  std::stable_sort(files.begin(), files.end(),
                   [](const ShardFile& a, const ShardFile& b) { return a.shard.index < b.shard.index; });
  FP4LAB_RETURN_IF_ERROR(CheckCompleteSet(files));
  FP4LAB_RETURN_IF_ERROR(CheckOnePlan(files));
  for (ShardFile& f : files) FP4LAB_RETURN_IF_ERROR(CheckSamplesBelong(f));
  return files;
}

}  // namespace fp4lab
