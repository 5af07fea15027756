// The result store's SQLite schema: DDL per version and the migration steps between versions.
//
// PRAGMA user_version holds the schema version. Version 1 was the first shipped schema (runs, tasks, metrics,
// samples); version 2 adds the comparisons and layer_precisions tables and samples.prompt_text/output_text;
// version 3 adds sample_attachments (binary parts kept with a sample while a run needs them).
// A new file is created from the version-1 DDL and then migrated step by step, so the migration path is the
// one path every database takes. To add version N+1: append one step to kMigrationSteps in schema.cc and bump
// kSchemaVersion; never edit a shipped step.
#pragma once

#include <set>
#include <string>

#include "engine/status.h"
#include "results/sqlite_db.h"

namespace fp4lab {

// The newest schema version this build reads and writes.
inline constexpr int kSchemaVersion = 3;

// The DDL of schema version 1 exactly as shipped (without PRAGMA user_version; CreateSchema sets it).
extern const char* const kSchemaV1Ddl;

// Tables present in every fp4lab results database, from version 1 on; a file lacking one is not ours.
const std::set<std::string>& RequiredTables();

// Creates the newest schema in an empty database: the version-1 DDL, then Migrate(db, 1, kSchemaVersion).
// REQUIRES: called inside db.InTransaction(); the database holds no tables.
Status CreateSchema(SqliteDb& db);

// Applies the migration steps from version `from` to version `to`, setting user_version after each step.
// InvalidArgument unless 1 <= from <= to <= kSchemaVersion. REQUIRES: called inside db.InTransaction(), so a
// failing step leaves the file at `from`.
Status Migrate(SqliteDb& db, int from, int to);

// Names of the tables in `db` (sqlite_master, type 'table', excluding sqlite_* internals).
Result<std::set<std::string>> ListTables(SqliteDb& db);

}  // namespace fp4lab
