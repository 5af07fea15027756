// ResultStore reads and writes (Open lives in result_store_open.cc).
#include "results/result_store.h"

#include <cmath>
#include <tuple>

#include "engine/file_util.h"

namespace fp4lab {
namespace {

constexpr const char* kRunColumns =
    "id, plan_key, tag, status, started_at, finished_at, model_path, reference_path, device, device_name, "
    "git_sha, provenance";

Result<RunStatus> ParseRunStatus(const std::string& text, const std::string& where) {
  if (text == "running") return RunStatus::kRunning;
  if (text == "complete") return RunStatus::kComplete;
  if (text == "failed") return RunStatus::kFailed;
  return Status::InvalidArgument(where + ": status is '" + text + "', expected running, complete or failed");
}

Result<std::string> JsonToText(const nlohmann::json& value, const std::string& where) {
  try {
    return value.dump();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(where + ": cannot serialize JSON: " + e.what());
  }
}

Result<nlohmann::json> TextToJson(const std::string& text, const std::string& where) {
  return ParseJsonBounded(text, where + " (stored text)");
}

// InvalidArgument when `value` is NaN (SQLite would store NaN as NULL and lose it).
Status CheckNotNan(double value, const std::string& where) {
  if (std::isnan(value)) return Status::InvalidArgument(where + " is NaN; the store keeps only numbers");
  return Status::Ok();
}

std::string TaskKey(int64_t run_id, const std::string& task, const std::string& precision) {
  return "run " + std::to_string(run_id) + " task '" + task + "' precision '" + precision + "'";
}

Result<RunRecord> ReadRunRow(const SqliteStatement& stmt, const std::string& path) {
  RunRecord run;
  run.id = stmt.ColumnInt64(0);
  const std::string where = path + ": run " + std::to_string(run.id);
  run.plan_key = stmt.ColumnText(1);
  run.tag = stmt.ColumnText(2);
  FP4LAB_ASSIGN_OR_RETURN(run.status, ParseRunStatus(stmt.ColumnText(3), where));
  run.started_at = stmt.ColumnText(4);
  run.finished_at = stmt.ColumnText(5);
  run.model_path = stmt.ColumnText(6);
  run.reference_path = stmt.ColumnText(7);
  run.device = stmt.ColumnText(8);
  run.device_name = stmt.ColumnText(9);
  run.git_sha = stmt.ColumnText(10);
  FP4LAB_ASSIGN_OR_RETURN(run.provenance, TextToJson(stmt.ColumnText(11), where + " provenance"));
  return run;
}

// Steps `stmt` to the end, converting each row with `read`.
template <typename T, typename ReadRow>
Result<std::vector<T>> ReadAll(SqliteStatement& stmt, ReadRow read) {
  std::vector<T> rows;
  while (true) {
    FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
    if (!has_row) return rows;
    FP4LAB_ASSIGN_OR_RETURN(T row, read(stmt));
    rows.push_back(std::move(row));
  }
}

}  // namespace

Status ResultStore::CheckWritable(const std::string& operation) const {
  if (mode_ != OpenMode::kReadOnly) return Status::Ok();
  return Status::FailedPrecondition(path_ + ": " + operation + ": the results database was opened read-only");
}

Status ResultStore::InTransaction(const std::string& operation, const std::function<Status()>& body) {
  FP4LAB_RETURN_IF_ERROR(CheckWritable(operation));
  return db_->InTransaction(operation, body);
}

// ---- runs ----

Result<int64_t> ResultStore::CreateRun(const RunRecord& run) {
  FP4LAB_RETURN_IF_ERROR(CheckWritable("create run"));
  FP4LAB_ASSIGN_OR_RETURN(std::string provenance, JsonToText(run.provenance, path_ + ": new run provenance"));
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("INSERT INTO runs (plan_key, tag, status, started_at, finished_at, model_path, reference_path, "
                   "device, device_name, git_sha, provenance) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11);",
                   "create run"));
  stmt.BindText(1, run.plan_key);
  stmt.BindText(2, run.tag);
  stmt.BindText(3, RunStatusName(run.status));
  stmt.BindText(4, run.started_at);
  stmt.BindText(5, run.finished_at);
  stmt.BindText(6, run.model_path);
  stmt.BindText(7, run.reference_path);
  stmt.BindText(8, run.device);
  stmt.BindText(9, run.device_name);
  stmt.BindText(10, run.git_sha);
  stmt.BindText(11, provenance);
  FP4LAB_RETURN_IF_ERROR(stmt.Run());
  return db_->LastInsertRowId();
}

Result<std::optional<RunRecord>> ResultStore::FindIncompleteRun(const std::string& plan_key) {
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_->Prepare(std::string("SELECT ") + kRunColumns +
                                           " FROM runs WHERE plan_key = ?1 AND status <> 'complete' "
                                           "ORDER BY id DESC LIMIT 1;",
                                       "find incomplete run"));
  stmt.BindText(1, plan_key);
  FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  if (!has_row) return std::optional<RunRecord>();
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, ReadRunRow(stmt, path_));
  return std::optional<RunRecord>(std::move(run));
}

Status ResultStore::FinishRun(int64_t run_id, RunStatus status, const std::string& finished_at) {
  const std::string operation = "finish run " + std::to_string(run_id);
  FP4LAB_RETURN_IF_ERROR(CheckWritable(operation));
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_->Prepare("UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1;", operation));
  stmt.BindInt64(1, run_id);
  stmt.BindText(2, RunStatusName(status));
  stmt.BindText(3, finished_at);
  FP4LAB_RETURN_IF_ERROR(stmt.Run());
  if (db_->Changes() == 0) return Status::NotFound(path_ + ": " + operation + ": no such run");
  return Status::Ok();
}

Status ResultStore::UpdateRunProvenance(int64_t run_id, const nlohmann::json& provenance) {
  const std::string operation = "update provenance of run " + std::to_string(run_id);
  FP4LAB_RETURN_IF_ERROR(CheckWritable(operation));
  FP4LAB_ASSIGN_OR_RETURN(std::string text, JsonToText(provenance, path_ + ": " + operation));
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_->Prepare("UPDATE runs SET provenance = ?2 WHERE id = ?1;", operation));
  stmt.BindInt64(1, run_id);
  stmt.BindText(2, text);
  FP4LAB_RETURN_IF_ERROR(stmt.Run());
  if (db_->Changes() == 0) return Status::NotFound(path_ + ": " + operation + ": no such run");
  return Status::Ok();
}

Result<RunRecord> ResultStore::GetRun(int64_t run_id) {
  const std::string operation = "read run " + std::to_string(run_id);
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_->Prepare(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?1;", operation));
  stmt.BindInt64(1, run_id);
  FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  if (!has_row) return Status::NotFound(path_ + ": " + operation + ": no such run");
  return ReadRunRow(stmt, path_);
}

Result<std::vector<RunRecord>> ResultStore::ListRuns() {
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_->Prepare(std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id;", "list runs"));
  return ReadAll<RunRecord>(stmt, [this](const SqliteStatement& row) { return ReadRunRow(row, path_); });
}

Result<std::optional<RunRecord>> ResultStore::LatestRunWithTag(const std::string& tag) {
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_->Prepare(std::string("SELECT ") + kRunColumns +
                                           " FROM runs WHERE tag = ?1 AND status = 'complete' "
                                           "ORDER BY id DESC LIMIT 1;",
                                       "find latest run tagged '" + tag + "'"));
  stmt.BindText(1, tag);
  FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  if (!has_row) return std::optional<RunRecord>();
  FP4LAB_ASSIGN_OR_RETURN(RunRecord run, ReadRunRow(stmt, path_));
  return std::optional<RunRecord>(std::move(run));
}

// ---- tasks ----

Status ResultStore::UpsertTaskRow(const TaskRecord& task) {
  const std::string operation = "write " + TaskKey(task.run_id, task.task, task.precision);
  FP4LAB_ASSIGN_OR_RETURN(std::string config, JsonToText(task.config, path_ + ": " + operation + " config"));
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("INSERT INTO tasks (run_id, task, precision, version, dataset_sha256, complete, config) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id, task, precision) DO UPDATE SET "
                   "version = excluded.version, dataset_sha256 = excluded.dataset_sha256, "
                   "complete = excluded.complete, config = excluded.config;",
                   operation));
  stmt.BindInt64(1, task.run_id);
  stmt.BindText(2, task.task);
  stmt.BindText(3, task.precision);
  stmt.BindText(4, task.version);
  stmt.BindText(5, task.dataset_sha256);
  stmt.BindInt64(6, task.complete ? 1 : 0);
  stmt.BindText(7, config);
  return stmt.Run();
}

Status ResultStore::UpsertTask(const TaskRecord& task) {
  FP4LAB_RETURN_IF_ERROR(CheckWritable("write task"));
  return UpsertTaskRow(task);
}

Result<std::vector<TaskRecord>> ResultStore::ListTasks(int64_t run_id) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT run_id, task, precision, version, dataset_sha256, complete, config FROM tasks "
                   "WHERE run_id = ?1 ORDER BY task, precision;",
                   "list tasks of run " + std::to_string(run_id)));
  stmt.BindInt64(1, run_id);
  return ReadAll<TaskRecord>(stmt, [this](const SqliteStatement& row) -> Result<TaskRecord> {
    TaskRecord task;
    task.run_id = row.ColumnInt64(0);
    task.task = row.ColumnText(1);
    task.precision = row.ColumnText(2);
    task.version = row.ColumnText(3);
    task.dataset_sha256 = row.ColumnText(4);
    task.complete = row.ColumnInt64(5) != 0;
    FP4LAB_ASSIGN_OR_RETURN(task.config, TextToJson(row.ColumnText(6), path_ + ": " +
                                                                           TaskKey(task.run_id, task.task,
                                                                                   task.precision) +
                                                                           " config"));
    return task;
  });
}

// ---- samples ----

Status ResultStore::WriteSamples(const std::vector<SampleRecord>& samples) {
  FP4LAB_RETURN_IF_ERROR(CheckWritable("write samples"));
  std::set<std::tuple<int64_t, std::string, std::string, std::string>> keys;
  for (const SampleRecord& sample : samples) {
    const std::string where =
        path_ + ": sample '" + sample.sample_id + "' of " + TaskKey(sample.run_id, sample.task, sample.precision);
    FP4LAB_RETURN_IF_ERROR(CheckNotNan(sample.score, where + ": score"));
    if (!keys.emplace(sample.run_id, sample.task, sample.precision, sample.sample_id).second) {
      return Status::InvalidArgument(where + " appears twice in one batch; nothing of the batch was written");
    }
  }
  return db_->InTransaction("write " + std::to_string(samples.size()) + " samples",
                            [&] { return WriteSamplesLocked(samples); });
}

Status ResultStore::WriteSamplesLocked(const std::vector<SampleRecord>& samples) {
  for (const SampleRecord& sample : samples) {
    const std::string operation =
        "write sample '" + sample.sample_id + "' of " + TaskKey(sample.run_id, sample.task, sample.precision);
    FP4LAB_ASSIGN_OR_RETURN(std::string data, JsonToText(sample.data, path_ + ": " + operation + " data"));
    FP4LAB_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_->Prepare("INSERT INTO samples (run_id, task, precision, sample_id, score, outcome, prompt_sha256, data, "
                     "prompt_text, output_text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                     "ON CONFLICT (run_id, task, precision, sample_id) DO UPDATE SET score = excluded.score, "
                     "outcome = excluded.outcome, prompt_sha256 = excluded.prompt_sha256, data = excluded.data, "
                     "prompt_text = excluded.prompt_text, output_text = excluded.output_text;",
                     operation));
    stmt.BindInt64(1, sample.run_id);
    stmt.BindText(2, sample.task);
    stmt.BindText(3, sample.precision);
    stmt.BindText(4, sample.sample_id);
    stmt.BindDouble(5, sample.score);
    stmt.BindText(6, sample.outcome);
    stmt.BindText(7, sample.prompt_sha256);
    stmt.BindText(8, data);
    stmt.BindText(9, sample.prompt_text);
    stmt.BindText(10, sample.output_text);
    FP4LAB_RETURN_IF_ERROR(stmt.Run());
    FP4LAB_RETURN_IF_ERROR(WriteAttachmentLocked(sample, operation));
  }
  return Status::Ok();
}

Status ResultStore::WriteAttachmentLocked(const SampleRecord& sample, const std::string& operation) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement clear,
      db_->Prepare("DELETE FROM sample_attachments WHERE run_id = ?1 AND task = ?2 AND precision = ?3 "
                   "AND sample_id = ?4;",
                   operation + " (replace its attachment)"));
  clear.BindInt64(1, sample.run_id);
  clear.BindText(2, sample.task);
  clear.BindText(3, sample.precision);
  clear.BindText(4, sample.sample_id);
  FP4LAB_RETURN_IF_ERROR(clear.Run());
  for (size_t part = 0; part < sample.attachment.size(); ++part) {
    if (sample.attachment[part].size() > kMaxAttachmentPartBytes) {
      return Status::InvalidArgument(path_ + ": " + operation + ": attachment part " + std::to_string(part) +
                                     " has " + std::to_string(sample.attachment[part].size()) +
                                     " bytes, more than the " + std::to_string(kMaxAttachmentPartBytes) + " allowed");
    }
    FP4LAB_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_->Prepare("INSERT INTO sample_attachments (run_id, task, precision, sample_id, part, data) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6);",
                     operation + " (attachment)"));
    stmt.BindInt64(1, sample.run_id);
    stmt.BindText(2, sample.task);
    stmt.BindText(3, sample.precision);
    stmt.BindText(4, sample.sample_id);
    stmt.BindInt64(5, static_cast<int64_t>(part));
    stmt.BindBlob(6, sample.attachment[part]);
    FP4LAB_RETURN_IF_ERROR(stmt.Run());
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ResultStore::ReadAttachment(int64_t run_id, const std::string& task,
                                                             const std::string& precision,
                                                             const std::string& sample_id) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT data FROM sample_attachments WHERE run_id = ?1 AND task = ?2 AND precision = ?3 "
                   "AND sample_id = ?4 ORDER BY part;",
                   "read the attachment of sample '" + sample_id + "' of " + TaskKey(run_id, task, precision)));
  stmt.BindInt64(1, run_id);
  stmt.BindText(2, task);
  stmt.BindText(3, precision);
  stmt.BindText(4, sample_id);
  std::vector<std::string> parts;
  while (true) {
    FP4LAB_ASSIGN_OR_RETURN(const bool has_row, stmt.Step());
    if (!has_row) break;
    parts.push_back(stmt.ColumnBlob(0));
  }
  return parts;
}

Result<int64_t> ResultStore::DeleteAttachments(int64_t run_id) {
  FP4LAB_RETURN_IF_ERROR(CheckWritable("delete attachments"));
  int64_t bytes = 0;
  FP4LAB_RETURN_IF_ERROR(InTransaction("delete the attachments of run " + std::to_string(run_id), [&]() -> Status {
    FP4LAB_ASSIGN_OR_RETURN(
        SqliteStatement size,
        db_->Prepare("SELECT coalesce(sum(length(data)), 0) FROM sample_attachments WHERE run_id = ?1;",
                     "measure the attachments of run " + std::to_string(run_id)));
    size.BindInt64(1, run_id);
    FP4LAB_ASSIGN_OR_RETURN(const bool has_row, size.Step());
    if (has_row) bytes = size.ColumnInt64(0);
    FP4LAB_ASSIGN_OR_RETURN(SqliteStatement del,
                            db_->Prepare("DELETE FROM sample_attachments WHERE run_id = ?1;",
                                         "delete the attachments of run " + std::to_string(run_id)));
    del.BindInt64(1, run_id);
    return del.Run();
  }));
  return bytes;
}

Result<std::vector<SampleRecord>> ResultStore::ListSamples(int64_t run_id, const std::string& task,
                                                           const std::string& precision) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT run_id, task, precision, sample_id, score, outcome, prompt_sha256, data, prompt_text, "
                   "output_text FROM samples WHERE run_id = ?1 AND (?2 = '' OR task = ?2) "
                   "AND (?3 = '' OR precision = ?3) ORDER BY rowid;",
                   "list samples of " + TaskKey(run_id, task, precision)));
  stmt.BindInt64(1, run_id);
  stmt.BindText(2, task);
  stmt.BindText(3, precision);
  return ReadAll<SampleRecord>(stmt, [this](const SqliteStatement& row) -> Result<SampleRecord> {
    SampleRecord sample;
    sample.run_id = row.ColumnInt64(0);
    sample.task = row.ColumnText(1);
    sample.precision = row.ColumnText(2);
    sample.sample_id = row.ColumnText(3);
    sample.score = row.ColumnDouble(4);
    sample.outcome = row.ColumnText(5);
    sample.prompt_sha256 = row.ColumnText(6);
    FP4LAB_ASSIGN_OR_RETURN(sample.data,
                            TextToJson(row.ColumnText(7), path_ + ": sample '" + sample.sample_id + "' of " +
                                                              TaskKey(sample.run_id, sample.task, sample.precision) +
                                                              " data"));
    sample.prompt_text = row.ColumnText(8);
    sample.output_text = row.ColumnText(9);
    return sample;
  });
}

Result<std::set<std::string>> ResultStore::StoredSampleIds(int64_t run_id, const std::string& task,
                                                           const std::string& precision) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT sample_id FROM samples WHERE run_id = ?1 AND task = ?2 AND precision = ?3;",
                   "list stored sample ids of " + TaskKey(run_id, task, precision)));
  stmt.BindInt64(1, run_id);
  stmt.BindText(2, task);
  stmt.BindText(3, precision);
  std::set<std::string> ids;
  while (true) {
    FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
    if (!has_row) return ids;
    ids.insert(stmt.ColumnText(0));
  }
}

Result<int64_t> ResultStore::CountSamples(int64_t run_id) {
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt, db_->Prepare("SELECT COUNT(*) FROM samples WHERE run_id = ?1;",
                                                             "count samples of run " + std::to_string(run_id)));
  stmt.BindInt64(1, run_id);
  FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  return has_row ? stmt.ColumnInt64(0) : 0;
}

// ---- metrics and comparisons ----

Status ResultStore::CompleteTask(const TaskRecord& task, const std::vector<MetricRecord>& metrics,
                                 const std::vector<ComparisonRecord>& comparisons) {
  const std::string key = TaskKey(task.run_id, task.task, task.precision);
  FP4LAB_RETURN_IF_ERROR(CheckWritable("complete " + key));
  for (const MetricRecord& m : metrics) {
    const std::string where = path_ + ": complete " + key + ": metric '" + m.metric + "'";
    if (m.run_id != task.run_id || m.task != task.task || m.precision != task.precision) {
      return Status::InvalidArgument(where + " belongs to " + TaskKey(m.run_id, m.task, m.precision));
    }
    FP4LAB_RETURN_IF_ERROR(CheckNotNan(m.value, where + " value"));
    if (m.stderr_value) FP4LAB_RETURN_IF_ERROR(CheckNotNan(*m.stderr_value, where + " stderr"));
  }
  for (const ComparisonRecord& c : comparisons) {
    const std::string where = path_ + ": complete " + key + ": comparison '" + c.metric + "' (" + c.method + ")";
    if (c.run_id != task.run_id || c.task != task.task || c.precision != task.precision) {
      return Status::InvalidArgument(where + " belongs to " + TaskKey(c.run_id, c.task, c.precision));
    }
    FP4LAB_RETURN_IF_ERROR(CheckNotNan(c.delta, where + " delta"));
    FP4LAB_RETURN_IF_ERROR(CheckNotNan(c.ci_low, where + " ci_low"));
    FP4LAB_RETURN_IF_ERROR(CheckNotNan(c.ci_high, where + " ci_high"));
    if (c.p_value) FP4LAB_RETURN_IF_ERROR(CheckNotNan(*c.p_value, where + " p_value"));
  }
  return db_->InTransaction("complete " + key, [&] { return CompleteTaskLocked(task, metrics, comparisons); });
}

Status ResultStore::CompleteTaskLocked(const TaskRecord& task, const std::vector<MetricRecord>& metrics,
                                       const std::vector<ComparisonRecord>& comparisons) {
  const std::string key = TaskKey(task.run_id, task.task, task.precision);
  TaskRecord complete_task = task;
  complete_task.complete = true;
  FP4LAB_RETURN_IF_ERROR(UpsertTaskRow(complete_task));
  for (const char* table : {"metrics", "comparisons"}) {
    FP4LAB_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_->Prepare(std::string("DELETE FROM ") + table + " WHERE run_id = ?1 AND task = ?2 AND precision = ?3;",
                     std::string("replace ") + table + " of " + key));
    stmt.BindInt64(1, task.run_id);
    stmt.BindText(2, task.task);
    stmt.BindText(3, task.precision);
    FP4LAB_RETURN_IF_ERROR(stmt.Run());
  }
  for (const MetricRecord& m : metrics) {
    FP4LAB_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_->Prepare("INSERT INTO metrics (run_id, task, precision, metric, value, stderr, n, unit, higher_is) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9);",
                     "write metric '" + m.metric + "' of " + key));
    stmt.BindInt64(1, m.run_id);
    stmt.BindText(2, m.task);
    stmt.BindText(3, m.precision);
    stmt.BindText(4, m.metric);
    stmt.BindDouble(5, m.value);
    if (m.stderr_value) {
      stmt.BindDouble(6, *m.stderr_value);
    } else {
      stmt.BindNull(6);
    }
    stmt.BindInt64(7, m.n);
    stmt.BindText(8, m.unit);
    stmt.BindText(9, m.higher_is);
    FP4LAB_RETURN_IF_ERROR(stmt.Run());
  }
  for (const ComparisonRecord& c : comparisons) {
    const std::string operation = "write comparison '" + c.metric + "' (" + c.method + ") of " + key;
    FP4LAB_ASSIGN_OR_RETURN(std::string extra, JsonToText(c.extra, path_ + ": " + operation + " extra"));
    FP4LAB_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_->Prepare("INSERT INTO comparisons (run_id, task, precision, reference_precision, metric, delta, ci_low, "
                     "ci_high, p_value, method, extra) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11);",
                     operation));
    stmt.BindInt64(1, c.run_id);
    stmt.BindText(2, c.task);
    stmt.BindText(3, c.precision);
    stmt.BindText(4, c.reference_precision);
    stmt.BindText(5, c.metric);
    stmt.BindDouble(6, c.delta);
    stmt.BindDouble(7, c.ci_low);
    stmt.BindDouble(8, c.ci_high);
    if (c.p_value) {
      stmt.BindDouble(9, *c.p_value);
    } else {
      stmt.BindNull(9);
    }
    stmt.BindText(10, c.method);
    stmt.BindText(11, extra);
    FP4LAB_RETURN_IF_ERROR(stmt.Run());
  }
  return Status::Ok();
}

Result<std::vector<MetricRecord>> ResultStore::ListMetrics(int64_t run_id) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT run_id, task, precision, metric, value, stderr, n, unit, higher_is FROM metrics "
                   "WHERE run_id = ?1 ORDER BY task, precision, rowid;",
                   "list metrics of run " + std::to_string(run_id)));
  stmt.BindInt64(1, run_id);
  return ReadAll<MetricRecord>(stmt, [](const SqliteStatement& row) -> Result<MetricRecord> {
    MetricRecord m;
    m.run_id = row.ColumnInt64(0);
    m.task = row.ColumnText(1);
    m.precision = row.ColumnText(2);
    m.metric = row.ColumnText(3);
    m.value = row.ColumnDouble(4);
    if (!row.ColumnIsNull(5)) m.stderr_value = row.ColumnDouble(5);
    m.n = row.ColumnInt64(6);
    m.unit = row.ColumnText(7);
    m.higher_is = row.ColumnText(8);
    return m;
  });
}

Result<std::vector<ComparisonRecord>> ResultStore::ListComparisons(int64_t run_id) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT run_id, task, precision, reference_precision, metric, delta, ci_low, ci_high, p_value, "
                   "method, extra FROM comparisons WHERE run_id = ?1 ORDER BY task, precision, rowid;",
                   "list comparisons of run " + std::to_string(run_id)));
  stmt.BindInt64(1, run_id);
  return ReadAll<ComparisonRecord>(stmt, [this](const SqliteStatement& row) -> Result<ComparisonRecord> {
    ComparisonRecord c;
    c.run_id = row.ColumnInt64(0);
    c.task = row.ColumnText(1);
    c.precision = row.ColumnText(2);
    c.reference_precision = row.ColumnText(3);
    c.metric = row.ColumnText(4);
    c.delta = row.ColumnDouble(5);
    c.ci_low = row.ColumnDouble(6);
    c.ci_high = row.ColumnDouble(7);
    if (!row.ColumnIsNull(8)) c.p_value = row.ColumnDouble(8);
    c.method = row.ColumnText(9);
    FP4LAB_ASSIGN_OR_RETURN(c.extra, TextToJson(row.ColumnText(10), path_ + ": comparison '" + c.metric + "' of " +
                                                                        TaskKey(c.run_id, c.task, c.precision) +
                                                                        " extra"));
    return c;
  });
}

// ---- layer precision maps ----

Status ResultStore::WriteLayerPrecisions(const std::vector<LayerPrecisionRecord>& layers) {
  FP4LAB_RETURN_IF_ERROR(CheckWritable("write layer precisions"));
  return db_->InTransaction("write " + std::to_string(layers.size()) + " layer precisions", [&]() -> Status {
    for (const LayerPrecisionRecord& layer : layers) {
      FP4LAB_ASSIGN_OR_RETURN(
          SqliteStatement stmt,
          db_->Prepare("INSERT INTO layer_precisions (run_id, precision, layer, scheme, reason, bytes) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (run_id, precision, layer) DO UPDATE SET "
                       "scheme = excluded.scheme, reason = excluded.reason, bytes = excluded.bytes;",
                       "write layer '" + layer.layer + "' of run " + std::to_string(layer.run_id) + " precision '" +
                           layer.precision + "'"));
      stmt.BindInt64(1, layer.run_id);
      stmt.BindText(2, layer.precision);
      stmt.BindText(3, layer.layer);
      stmt.BindText(4, layer.scheme);
      stmt.BindText(5, layer.reason);
      stmt.BindInt64(6, layer.bytes);
      FP4LAB_RETURN_IF_ERROR(stmt.Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<LayerPrecisionRecord>> ResultStore::ListLayerPrecisions(int64_t run_id) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_->Prepare("SELECT run_id, precision, layer, scheme, reason, bytes FROM layer_precisions "
                   "WHERE run_id = ?1 ORDER BY precision, rowid;",
                   "list layer precisions of run " + std::to_string(run_id)));
  stmt.BindInt64(1, run_id);
  return ReadAll<LayerPrecisionRecord>(stmt, [](const SqliteStatement& row) -> Result<LayerPrecisionRecord> {
    LayerPrecisionRecord layer;
    layer.run_id = row.ColumnInt64(0);
    layer.precision = row.ColumnText(1);
    layer.layer = row.ColumnText(2);
    layer.scheme = row.ColumnText(3);
    layer.reason = row.ColumnText(4);
    layer.bytes = row.ColumnInt64(5);
    return layer;
  });
}

}  // namespace fp4lab
