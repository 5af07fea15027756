#include "results/schema.h"

#include <iterator>

namespace fp4lab {

// Version 1, as first shipped. Frozen: databases in the field were created from exactly this text.
const char* const kSchemaV1Ddl = R"sql(
CREATE TABLE runs (
  id             INTEGER PRIMARY KEY,
  plan_key       TEXT NOT NULL,
  tag            TEXT NOT NULL DEFAULT '',
  status         TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
  started_at     TEXT NOT NULL,
  finished_at    TEXT NOT NULL DEFAULT '',
  model_path     TEXT NOT NULL,
  reference_path TEXT NOT NULL DEFAULT '',
  device         TEXT NOT NULL,
  device_name    TEXT NOT NULL DEFAULT '',
  git_sha        TEXT NOT NULL DEFAULT '',
  provenance     TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX runs_by_plan_key ON runs (plan_key, status);
CREATE INDEX runs_by_tag ON runs (tag, status);

CREATE TABLE tasks (
  run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  task           TEXT NOT NULL,
  precision      TEXT NOT NULL,
  version        TEXT NOT NULL,
  dataset_sha256 TEXT NOT NULL DEFAULT '',
  complete       INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
  config         TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, task, precision)
) STRICT;

CREATE TABLE metrics (
  run_id    INTEGER NOT NULL,
  task      TEXT NOT NULL,
  precision TEXT NOT NULL,
  metric    TEXT NOT NULL,
  value     REAL NOT NULL,
  stderr    REAL,
  n         INTEGER NOT NULL,
  unit      TEXT NOT NULL DEFAULT '',
  higher_is TEXT NOT NULL DEFAULT '' CHECK (higher_is IN ('better', 'worse', '')),
  PRIMARY KEY (run_id, task, precision, metric),
  FOREIGN KEY (run_id, task, precision) REFERENCES tasks (run_id, task, precision) ON DELETE CASCADE
) STRICT;
CREATE INDEX metrics_by_task_metric ON metrics (task, metric, precision);

CREATE TABLE samples (
  run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  task          TEXT NOT NULL,
  precision     TEXT NOT NULL,
  sample_id     TEXT NOT NULL CHECK (sample_id <> ''),
  score         REAL NOT NULL,
  outcome       TEXT NOT NULL DEFAULT '',
  prompt_sha256 TEXT NOT NULL DEFAULT '',
  data          TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, task, precision, sample_id)
) STRICT;
CREATE INDEX samples_by_task_sample ON samples (task, sample_id);
)sql";

namespace {

// Step 1 -> 2: paired comparisons, layer precision maps, and the --log-samples texts.
const char* const kMigrateV1ToV2 = R"sql(
ALTER TABLE samples ADD COLUMN prompt_text TEXT NOT NULL DEFAULT '';
ALTER TABLE samples ADD COLUMN output_text TEXT NOT NULL DEFAULT '';

CREATE TABLE comparisons (
  run_id              INTEGER NOT NULL,
  task                TEXT NOT NULL,
  precision           TEXT NOT NULL,
  reference_precision TEXT NOT NULL,
  metric              TEXT NOT NULL,
  delta               REAL NOT NULL,
  ci_low              REAL NOT NULL,
  ci_high             REAL NOT NULL,
  p_value             REAL,
  method              TEXT NOT NULL,
  extra               TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, task, precision, reference_precision, metric, method),
  FOREIGN KEY (run_id, task, precision) REFERENCES tasks (run_id, task, precision) ON DELETE CASCADE
) STRICT;

CREATE TABLE layer_precisions (
  run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  precision TEXT NOT NULL,
  layer     TEXT NOT NULL,
  scheme    TEXT NOT NULL,
  reason    TEXT NOT NULL DEFAULT '',
  bytes     INTEGER NOT NULL CHECK (bytes >= 0),
  PRIMARY KEY (run_id, precision, layer)
) STRICT;
)sql";

// Step 2 -> 3: binary attachments of samples (e.g. the reference log-probs fidelity stores with the reference's
// samples so that candidates can be scored after the reference model is freed), in parts of at most a few hundred
// MB each (SQLite's default BLOB limit is 1e9 bytes). Deleted with their sample.
const char* const kMigrateV2ToV3 = R"sql(
CREATE TABLE sample_attachments (
  run_id    INTEGER NOT NULL,
  task      TEXT NOT NULL,
  precision TEXT NOT NULL,
  sample_id TEXT NOT NULL,
  part      INTEGER NOT NULL CHECK (part >= 0),
  data      BLOB NOT NULL,
  PRIMARY KEY (run_id, task, precision, sample_id, part),
  FOREIGN KEY (run_id, task, precision, sample_id) REFERENCES samples (run_id, task, precision, sample_id)
    ON DELETE CASCADE
) STRICT;
)sql";

// kMigrationSteps[i] takes a database from version i + 1 to version i + 2. Append only.
const char* const kMigrationSteps[] = {kMigrateV1ToV2, kMigrateV2ToV3};
static_assert(std::size(kMigrationSteps) == kSchemaVersion - 1, "one migration step per schema version bump");

}  // namespace

const std::set<std::string>& RequiredTables() {
  static const std::set<std::string>* const kTables = new std::set<std::string>{"runs", "tasks", "metrics", "samples"};
  return *kTables;
}

Status CreateSchema(SqliteDb& db) {
  FP4LAB_RETURN_IF_ERROR(db.Exec(kSchemaV1Ddl, "create schema version 1"));
  FP4LAB_RETURN_IF_ERROR(db.SetUserVersion(1));
  return Migrate(db, 1, kSchemaVersion);
}

Status Migrate(SqliteDb& db, int from, int to) {
  if (from < 1 || from > to || to > kSchemaVersion) {
    return Status::InvalidArgument(db.label() + ": cannot migrate schema from version " + std::to_string(from) +
                                   " to " + std::to_string(to) + "; this fp4lab knows versions 1.." +
                                   std::to_string(kSchemaVersion));
  }
  for (int version = from; version < to; ++version) {
    const std::string operation =
        "migrate schema from version " + std::to_string(version) + " to " + std::to_string(version + 1);
    FP4LAB_RETURN_IF_ERROR(db.Exec(kMigrationSteps[version - 1], operation));
    FP4LAB_RETURN_IF_ERROR(db.SetUserVersion(version + 1));
  }
  return Status::Ok();
}

Result<std::set<std::string>> ListTables(SqliteDb& db) {
  FP4LAB_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\';",
                 "list tables"));
  std::set<std::string> tables;
  while (true) {
    FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
    if (!has_row) break;
    tables.insert(stmt.ColumnText(0));
  }
  return tables;
}

}  // namespace fp4lab
