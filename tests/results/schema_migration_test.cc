#include <sqlite3.h>

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "results/result_store.h"
#include "results/schema.h"
#include "store_test_util.h"

namespace fp4lab {
namespace {

using testing::MakeSample;
using testing::MakeTask;
using testing::ReadBytes;
using testing::TempDir;

// Runs `sql` on the file at `path` through a plain sqlite3 connection (no fp4lab code involved).
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// The first column of the first row of `sql` as text, through a plain read-only sqlite3 connection.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const unsigned char* text = sqlite3_column_text(stmt, 0);
  std::string value = text ? reinterpret_cast<const char*>(text) : "";
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

int64_t RawQueryInt(const std::string& path, const std::string& sql) { return std::stoll(RawQuery(path, sql)); }

// A version-1 database as fp4lab 1 wrote it: the frozen DDL, user_version 1, a run with a task, a metric and
// two samples (one with a NULL-free JSON blob, as version 1 stored them).
void WriteVersion1Database(const std::string& path) {
  RawExec(path, std::string(kSchemaV1Ddl) + "PRAGMA user_version = 1;");
  RawExec(path, R"sql(
    INSERT INTO runs (id, plan_key, tag, status, started_at, finished_at, model_path, reference_path, device,
                      device_name, git_sha, provenance)
      VALUES (7, 'plan-v1', 'baseline', 'complete', '2025-01-01T00:00:00Z', '2025-01-01T01:00:00Z', 'm', 'r',
              'cpu', 'CPU (x86_64)', 'abc', '{"host":"ci-1"}');
    INSERT INTO tasks VALUES (7, 'mmlu', 'bf16', '1', 'sha', 1, '{"shots":5}');
    INSERT INTO metrics VALUES (7, 'mmlu', 'bf16', 'acc', 0.5, 0.25, 2, '', 'better');
    INSERT INTO samples VALUES (7, 'mmlu', 'bf16', 'anatomy/0', 1.0, 'correct', 'p0', '{"choice":"A"}');
    INSERT INTO samples VALUES (7, 'mmlu', 'bf16', 'anatomy/1', 0.0, 'wrong', 'p1', '{"choice":"C"}');
  )sql");
}

// The rows WriteVersion1Database inserted, read through the store.
void ExpectVersion1RowsIntact(ResultStore& store) {
  RunRecord run = store.GetRun(7).value();
  EXPECT_EQ(run.plan_key, "plan-v1");
  EXPECT_EQ(run.tag, "baseline");
  EXPECT_EQ(run.status, RunStatus::kComplete);
  EXPECT_EQ(run.provenance, nlohmann::json({{"host", "ci-1"}}));
  std::vector<TaskRecord> tasks = store.ListTasks(7).value();
  ASSERT_GE(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].precision, "bf16");  // ordered by task, precision
  EXPECT_TRUE(tasks[0].complete);
  EXPECT_EQ(tasks[0].config, nlohmann::json({{"shots", 5}}));
  std::vector<MetricRecord> metrics = store.ListMetrics(7).value();
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0].value, 0.5);
  EXPECT_EQ(metrics[0].stderr_value, 0.25);
  std::vector<SampleRecord> samples = store.ListSamples(7, "mmlu", "bf16").value();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].sample_id, "anatomy/0");
  EXPECT_EQ(samples[0].data, nlohmann::json({{"choice", "A"}}));
  EXPECT_EQ(samples[1].outcome, "wrong");
  EXPECT_EQ(samples[1].prompt_text, "");  // column added by the migration, defaulted
}

// The tables version 2 added exist and are empty.
void ExpectVersion2TablesEmpty(ResultStore& store) {
  auto comparisons = store.ListComparisons(7);
  FP4LAB_ASSERT_OK(comparisons);
  EXPECT_TRUE(comparisons->empty());
  auto layers = store.ListLayerPrecisions(7);
  FP4LAB_ASSERT_OK(layers);
  EXPECT_TRUE(layers->empty());
}

TEST(SchemaMigrationTest, Version1FileIsMigratedInPlaceWithRowsIntact) {
  TempDir dir;
  const std::string path = dir.File("v1.sqlite");
  WriteVersion1Database(path);
  ASSERT_EQ(RawQueryInt(path, "PRAGMA user_version;"), 1);

  auto store = ResultStore::Open(path, OpenMode::kReadWrite);
  FP4LAB_ASSERT_OK(store);
  EXPECT_EQ((*store)->SchemaVersion(), kSchemaVersion);
  ExpectVersion1RowsIntact(**store);
  ExpectVersion2TablesEmpty(**store);

  // The version-2 parts work on the migrated file.
  SampleRecord logged = MakeSample(7, "mmlu", "nvfp4", "anatomy/0", 1.0);
  logged.prompt_text = "prompt";
  logged.output_text = "output";
  FP4LAB_ASSERT_OK((*store)->WriteSamples({logged}));
  FP4LAB_ASSERT_OK((*store)->WriteLayerPrecisions({{.run_id = 7, .precision = "nvfp4", .layer = "l0",
                                                    .scheme = "nvfp4", .reason = "quantized", .bytes = 10}}));
  ComparisonRecord c = testing::MakeComparison(7, "mmlu", "nvfp4", "acc", "mcnemar_exact");
  FP4LAB_ASSERT_OK((*store)->CompleteTask(MakeTask(7, "mmlu", "nvfp4"), {}, {c}));
  EXPECT_EQ((*store)->ListSamples(7, "mmlu", "nvfp4").value()[0].output_text, "output");
  EXPECT_EQ((*store)->ListComparisons(7).value().size(), 1u);
  store->reset();

  // The file itself now says the newest version and has the new tables and columns.
  EXPECT_EQ(RawQueryInt(path, "PRAGMA user_version;"), kSchemaVersion);
  EXPECT_EQ(RawQueryInt(path, "SELECT count(*) FROM sqlite_master WHERE name = 'layer_precisions';"), 1);
  EXPECT_EQ(RawQueryInt(path, "SELECT count(*) FROM sqlite_master WHERE name = 'sample_attachments';"), 1);
  EXPECT_EQ(RawQueryInt(path, "SELECT count(*) FROM pragma_table_info('samples') WHERE name = 'prompt_text';"), 1);
  // Re-opening a migrated file migrates nothing more.
  auto again = ResultStore::Open(path, OpenMode::kCreateOrOpen);
  FP4LAB_ASSERT_OK(again);
  ExpectVersion1RowsIntact(**again);
}

TEST(SchemaMigrationTest, ReadOnlyOpenOfVersion1ReadsAMigratedCopyAndLeavesTheFile) {
  TempDir dir;
  const std::string path = dir.File("v1.sqlite");
  WriteVersion1Database(path);
  const std::string before = ReadBytes(path);

  auto store = ResultStore::Open(path, OpenMode::kReadOnly);
  FP4LAB_ASSERT_OK(store);
  EXPECT_EQ((*store)->SchemaVersion(), 1);  // the file's version; reads are served from a migrated copy
  ExpectVersion1RowsIntact(**store);
  ExpectVersion2TablesEmpty(**store);
  EXPECT_EQ((*store)->WriteSamples({MakeSample(7, "mmlu", "bf16", "x", 1)}).code(), StatusCode::kFailedPrecondition);
  store->reset();

  EXPECT_EQ(ReadBytes(path), before);
  EXPECT_EQ(RawQueryInt(path, "PRAGMA user_version;"), 1);
}

TEST(SchemaMigrationTest, FreshFileAndMigratedFileHaveTheSameSchema) {
  TempDir dir;
  const std::string fresh = dir.File("fresh.sqlite");
  const std::string migrated = dir.File("migrated.sqlite");
  FP4LAB_ASSERT_OK(ResultStore::Open(fresh, OpenMode::kCreateOrOpen));
  WriteVersion1Database(migrated);
  FP4LAB_ASSERT_OK(ResultStore::Open(migrated, OpenMode::kReadWrite));
  // Same tables and columns (name, type, NOT NULL, default, key position) in the same order, same indices.
  const std::string schema_sql =
      "SELECT group_concat(line, char(10)) FROM ("
      " SELECT m.name || '.' || p.name || ' ' || p.type || ' notnull=' || p.\"notnull\" || ' default=' ||"
      "        ifnull(p.dflt_value, '') || ' pk=' || p.pk AS line"
      " FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"
      " UNION ALL SELECT 'index ' || name || ' ON ' || tbl_name FROM sqlite_master WHERE type = 'index'"
      " ORDER BY line);";
  const std::string fresh_schema = RawQuery(fresh, schema_sql);
  EXPECT_NE(fresh_schema.find("samples.output_text TEXT notnull=1"), std::string::npos) << fresh_schema;
  EXPECT_EQ(fresh_schema, RawQuery(migrated, schema_sql));
}

TEST(SchemaMigrationTest, FutureSchemaVersionIsRefusedInEveryMode) {
  TempDir dir;
  const std::string path = dir.File("results.sqlite");
  FP4LAB_ASSERT_OK(ResultStore::Open(path, OpenMode::kCreateOrOpen));
  RawExec(path, "PRAGMA user_version = 7;");
  const std::string before = ReadBytes(path);
  for (OpenMode mode : {OpenMode::kCreateOrOpen, OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    auto store = ResultStore::Open(path, mode);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(store.status().message(),
              path + " has schema version 7; this fp4lab knows up to " + std::to_string(kSchemaVersion) + ": upgrade fp4lab");
  }
  EXPECT_EQ(ReadBytes(path), before);
}

TEST(SchemaMigrationTest, MigrateRejectsUnknownVersionRanges) {
  auto db = SqliteDb::Open(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "mem");
  FP4LAB_ASSERT_OK(db);
  EXPECT_EQ(Migrate(**db, 2, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Migrate(**db, 0, 2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Migrate(**db, 1, kSchemaVersion + 1).code(), StatusCode::kInvalidArgument);
  FP4LAB_ASSERT_OK(Migrate(**db, kSchemaVersion, kSchemaVersion));  // nothing to do
}

}  // namespace
}  // namespace fp4lab
