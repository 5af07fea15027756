// ResultStore: the SQLite file (results.sqlite) every run writes and every report, gate and comparison reads.
// Rows are the structs of results/records.h; the schema is results/schema.h.
//
// Guarantees:
//  - Open never damages a file that is not ours: an existing file is first inspected through a read-only
//    connection (header, PRAGMA quick_check, tables, user_version); a foreign SQLite database, a non-SQLite
//    file or a corrupt one is refused with InvalidArgument and left byte-for-byte as it was.
//  - A file whose schema is newer than this build is refused (FailedPrecondition); an older one is migrated in
//    place (kCreateOrOpen, kReadWrite) or, read-only, in an in-memory copy so the file stays untouched.
//  - Every multi-row write is one transaction: a killed process or a failing row leaves none of that write.
//  - Several stores (threads or processes) may write one file: WAL mode, a 10 s busy timeout and BEGIN
//    IMMEDIATE make the writers queue; a writer that waits longer fails with IoError, never corrupts.
//  - Every SQLite error becomes a Status naming the database path and the operation.
//
// Not thread-safe: one ResultStore per thread (open another one on the same path for another thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"
#include "results/records.h"
#include "results/sqlite_db.h"

namespace fp4lab {

enum class OpenMode {
  kCreateOrOpen,  // fp4lab run / merge: creates a missing or empty file (0 bytes, or SQLite without any
                  // table and user_version 0), migrates an older one
  kReadWrite,     // the file must exist (NotFound otherwise); migrates an older one
  kReadOnly,      // report / gate / compare: the file must exist and is never written; writes fail
};

class ResultStore {
 public:
  static Result<std::unique_ptr<ResultStore>> Open(const std::string& path, OpenMode mode);
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  const std::string& path() const { return path_; }
  OpenMode mode() const { return mode_; }
  // The schema version of the file on disk: kSchemaVersion, except for a read-only store over an older file,
  // which is served from a migrated in-memory copy while the file keeps its version.
  int SchemaVersion() const { return file_schema_version_; }

  // Runs `body` in one write transaction (nested store calls become savepoints): all of it or none of it.
  Status InTransaction(const std::string& operation, const std::function<Status()>& body);

  // ---- runs ----
  // Inserts `run` (its id is ignored) and returns the new id.
  Result<int64_t> CreateRun(const RunRecord& run);
  // The newest run with this plan_key whose status is not complete (running or failed), for --resume.
  Result<std::optional<RunRecord>> FindIncompleteRun(const std::string& plan_key);
  // NotFound when the run does not exist.
  Status FinishRun(int64_t run_id, RunStatus status, const std::string& finished_at);
  // Replaces the run's provenance object. NotFound when the run does not exist.
  Status UpdateRunProvenance(int64_t run_id, const nlohmann::json& provenance);
  // NotFound when the run does not exist.
  Result<RunRecord> GetRun(int64_t run_id);
  Result<std::vector<RunRecord>> ListRuns();  // ordered by id
  // The newest complete run whose tag equals `tag`; nullopt when there is none.
  Result<std::optional<RunRecord>> LatestRunWithTag(const std::string& tag);

  // ---- tasks ----
  // Inserts or replaces the row keyed (run_id, task, precision), `complete` included.
  Status UpsertTask(const TaskRecord& task);
  Result<std::vector<TaskRecord>> ListTasks(int64_t run_id);  // ordered by task, precision

  // ---- samples ----
  // Writes all of `samples` in ONE transaction. Idempotent on (run_id, task, precision, sample_id): a key that
  // is already stored is overwritten. A key repeated within `samples`, a NaN score, or any failing row
  // (e.g. an unknown run_id, an empty sample_id) fails the call and writes none of the batch.
  Status WriteSamples(const std::vector<SampleRecord>& samples);
  // Samples of a run in write order; an empty `task` or `precision` matches all.
  Result<std::vector<SampleRecord>> ListSamples(int64_t run_id, const std::string& task,
                                                const std::string& precision);
  // The sample_ids stored for exactly (run_id, task, precision), for --resume.
  Result<std::set<std::string>> StoredSampleIds(int64_t run_id, const std::string& task,
                                                const std::string& precision);
  // The attachment parts stored with one sample, in order; empty when it has none (or the sample is unknown).
  Result<std::vector<std::string>> ReadAttachment(int64_t run_id, const std::string& task,
                                                  const std::string& precision, const std::string& sample_id);
  // Deletes every attachment of the run (once nothing needs them: the run is complete). Returns the bytes freed.
  Result<int64_t> DeleteAttachments(int64_t run_id);
  // Number of samples stored for the run, every task and precision (0 for an unknown run).
  Result<int64_t> CountSamples(int64_t run_id);

  // ---- metrics and comparisons ----
  // In ONE transaction: upserts `task` with complete = true, replaces all metrics and comparisons stored for
  // (task.run_id, task.task, task.precision) by `metrics` and `comparisons`. InvalidArgument when a metric or
  // comparison names another run/task/precision, repeats a key, or holds a NaN.
  Status CompleteTask(const TaskRecord& task, const std::vector<MetricRecord>& metrics,
                      const std::vector<ComparisonRecord>& comparisons);
  Result<std::vector<MetricRecord>> ListMetrics(int64_t run_id);          // ordered by task, precision, write order
  Result<std::vector<ComparisonRecord>> ListComparisons(int64_t run_id);  // ordered by task, precision, write order

  // ---- layer precision maps ----
  // Upserts all rows, keyed (run_id, precision, layer), in ONE transaction.
  Status WriteLayerPrecisions(const std::vector<LayerPrecisionRecord>& layers);
  Result<std::vector<LayerPrecisionRecord>> ListLayerPrecisions(int64_t run_id);  // by precision, write order

 private:
  ResultStore(std::string path, OpenMode mode, std::unique_ptr<SqliteDb> db, int file_schema_version)
      : path_(std::move(path)), mode_(mode), db_(std::move(db)), file_schema_version_(file_schema_version) {}

  // FailedPrecondition for any write through a kReadOnly store.
  Status CheckWritable(const std::string& operation) const;
  Status WriteSamplesLocked(const std::vector<SampleRecord>& samples);
  // Replaces the attachment parts of `sample` (already written) by sample.attachment.
  Status WriteAttachmentLocked(const SampleRecord& sample, const std::string& operation);
  Status CompleteTaskLocked(const TaskRecord& task, const std::vector<MetricRecord>& metrics,
                            const std::vector<ComparisonRecord>& comparisons);
  Status UpsertTaskRow(const TaskRecord& task);

  std::string path_;
  OpenMode mode_;
  std::unique_ptr<SqliteDb> db_;
  int file_schema_version_;
};

}  // namespace fp4lab
