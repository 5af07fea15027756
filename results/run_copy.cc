#include "results/run_copy.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace fp4lab {
namespace {

// Adds `tasks`, `samples` and `layers` (read from the source run) to run `dst_run_id` of `dst`.
// REQUIRES: inside a transaction of `dst`.
Status AppendRows(const std::string& src_label, std::vector<TaskRecord> tasks, std::vector<SampleRecord> samples,
                  std::vector<LayerPrecisionRecord> layers, ResultStore& dst, int64_t dst_run_id) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<TaskRecord> existing, dst.ListTasks(dst_run_id));
  std::map<std::pair<std::string, std::string>, TaskRecord> existing_by_key;
  for (TaskRecord& task : existing) existing_by_key.emplace(std::make_pair(task.task, task.precision), task);

  for (TaskRecord& task : tasks) {
    auto it = existing_by_key.find({task.task, task.precision});
    if (it != existing_by_key.end()) {
      const TaskRecord& have = it->second;
      if (have.version != task.version || have.dataset_sha256 != task.dataset_sha256) {
        return Status::FailedPrecondition(
            src_label + ": task '" + task.task + "' precision '" + task.precision + "' has version '" +
            task.version + "' dataset sha256 '" + task.dataset_sha256 + "' but " + dst.path() + " run " +
            std::to_string(dst_run_id) + " has version '" + have.version + "' dataset sha256 '" +
            have.dataset_sha256 + "': the shards ran different plans");
      }
      if (have.complete) {
        // New samples make its stored metrics stale: incomplete until the merged metrics are written.
        TaskRecord stale = have;
        stale.complete = false;
        FP4LAB_RETURN_IF_ERROR(dst.UpsertTask(stale));
      }
      continue;
    }
    task.run_id = dst_run_id;
    task.complete = false;
    FP4LAB_RETURN_IF_ERROR(dst.UpsertTask(task));
  }
  for (SampleRecord& sample : samples) sample.run_id = dst_run_id;
  FP4LAB_RETURN_IF_ERROR(dst.WriteSamples(samples));
  for (LayerPrecisionRecord& layer : layers) layer.run_id = dst_run_id;
  return dst.WriteLayerPrecisions(layers);
}

struct RunRows {
  std::vector<TaskRecord> tasks;
  std::vector<SampleRecord> samples;
  std::vector<LayerPrecisionRecord> layers;
};

Result<RunRows> ReadRunRows(ResultStore& src, int64_t src_run_id) {
  RunRows rows;
  FP4LAB_ASSIGN_OR_RETURN(rows.tasks, src.ListTasks(src_run_id));
  FP4LAB_ASSIGN_OR_RETURN(rows.samples, src.ListSamples(src_run_id, "", ""));
  FP4LAB_ASSIGN_OR_RETURN(rows.layers, src.ListLayerPrecisions(src_run_id));
  return rows;
}

}  // namespace

Result<int64_t> CopyRunInto(ResultStore& src, int64_t src_run_id, ResultStore& dst) {
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, src.GetRun(src_run_id));
  FP4LAB_ASSIGN_OR_RETURN(RunRows rows, ReadRunRows(src, src_run_id));
  const std::string src_label = src.path() + " run " + std::to_string(src_run_id);
  int64_t dst_run_id = 0;
  FP4LAB_RETURN_IF_ERROR(dst.InTransaction("copy " + src_label, [&]() -> Status {
    run.status = RunStatus::kRunning;
    run.finished_at.clear();
    FP4LAB_ASSIGN_OR_RETURN(dst_run_id, dst.CreateRun(run));
    return AppendRows(src_label, std::move(rows.tasks), std::move(rows.samples), std::move(rows.layers), dst,
                      dst_run_id);
  }));
  return dst_run_id;
}

Status AppendRunInto(ResultStore& src, int64_t src_run_id, ResultStore& dst, int64_t dst_run_id) {
  FP4LAB_RETURN_IF_ERROR(src.GetRun(src_run_id));
  FP4LAB_ASSIGN_OR_RETURN(RunRows rows, ReadRunRows(src, src_run_id));
  const std::string src_label = src.path() + " run " + std::to_string(src_run_id);
  return dst.InTransaction("append " + src_label + " to run " + std::to_string(dst_run_id), [&]() -> Status {
    FP4LAB_RETURN_IF_ERROR(dst.GetRun(dst_run_id));
    return AppendRows(src_label, std::move(rows.tasks), std::move(rows.samples), std::move(rows.layers), dst,
                      dst_run_id);
  });
}

}  // namespace fp4lab
