#include "results/sqlite_db.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>
#include <utility>

namespace fp4lab {
namespace {

const char* PrimaryCodeName(int rc) {
  switch (rc & 0xff) {
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_INTERNAL: return "SQLITE_INTERNAL";
    case SQLITE_PERM: return "SQLITE_PERM";
    case SQLITE_ABORT: return "SQLITE_ABORT";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_MISUSE: return "SQLITE_MISUSE";
    case SQLITE_RANGE: return "SQLITE_RANGE";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    default: return "SQLITE_UNKNOWN";
  }
}

// "<label>: <operation>: <message> (<code>)".
Status MakeError(int rc, const char* message, const std::string& label, const std::string& operation) {
  std::string text = label + ": " + operation + ": " + (message ? message : sqlite3_errstr(rc)) + " (" +
                     PrimaryCodeName(rc) + ")";
  return Status(StatusCodeForSqlite(rc), std::move(text));
}

}  // namespace

StatusCode StatusCodeForSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_CONSTRAINT:
      return StatusCode::kInvalidArgument;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PERM:
      return StatusCode::kIoError;
    case SQLITE_NOMEM:
      return StatusCode::kResourceExhausted;
    case SQLITE_INTERRUPT:
      return StatusCode::kAborted;
    default:
      return StatusCode::kInternal;
  }
}

// ---- SqliteStatement ----

SqliteStatement::SqliteStatement(sqlite3_stmt* stmt, const std::string* db_path, std::string operation)
    : stmt_(stmt), db_path_(db_path), operation_(std::move(operation)) {}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_path_(other.db_path_),
      operation_(std::move(other.operation_)),
      bind_rc_(other.bind_rc_) {}

SqliteStatement::~SqliteStatement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Status SqliteStatement::Error(int rc) const {
  return MakeError(rc, sqlite3_errmsg(sqlite3_db_handle(stmt_)), *db_path_, operation_);
}

void SqliteStatement::BindText(int index, const std::string& value) {
  int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

void SqliteStatement::BindBlob(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), static_cast<sqlite3_uint64>(bytes.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

void SqliteStatement::BindInt64(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

void SqliteStatement::BindDouble(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

void SqliteStatement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

Result<bool> SqliteStatement::Step() {
  if (bind_rc_ != 0) return MakeError(bind_rc_, nullptr, *db_path_, operation_ + " (binding parameters)");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(rc);
}

Status SqliteStatement::Run() {
  while (true) {
    FP4LAB_ASSIGN_OR_RETURN(bool has_row, Step());
    if (!has_row) return Status::Ok();
  }
}

int64_t SqliteStatement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

double SqliteStatement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }

std::string SqliteStatement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string SqliteStatement::ColumnBlob(int column) const {
  const void* bytes = sqlite3_column_blob(stmt_, column);
  if (bytes == nullptr) return "";
  return std::string(static_cast<const char*>(bytes), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool SqliteStatement::ColumnIsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

// ---- SqliteDb ----

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, int flags, const std::string& label) {
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status status = MakeError(rc, handle ? sqlite3_errmsg(handle) : nullptr, label, "open");
    sqlite3_close_v2(handle);  // a handle is returned even on failure (or null); both are safe to close
    return status;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(handle, label));
  sqlite3_extended_result_codes(handle, 1);
  rc = sqlite3_busy_timeout(handle, kSqliteBusyTimeoutMs);
  if (rc != SQLITE_OK) return db->Error(rc, "set busy timeout");
  FP4LAB_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys = ON;", "enable foreign keys"));
  return db;
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status SqliteDb::Error(int rc, const std::string& operation) const {
  return MakeError(rc, sqlite3_errmsg(db_), label_, operation);
}

Status SqliteDb::Exec(const std::string& sql, const std::string& operation) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Status::Ok();
  Status status = MakeError(rc, message, label_, operation);
  sqlite3_free(message);
  return status;
}

Result<SqliteStatement> SqliteDb::Prepare(const std::string& sql, const std::string& operation) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) return Error(rc, operation + " (preparing SQL)");
    it = statements_.emplace(sql, stmt).first;
  }
  return SqliteStatement(it->second, &label_, operation);
}

Status SqliteDb::InTransaction(const std::string& operation, const std::function<Status()>& body) {
  const bool outermost = transaction_depth_ == 0;
  const std::string savepoint = "fp4lab_sp" + std::to_string(transaction_depth_);
  FP4LAB_RETURN_IF_ERROR(Exec(outermost ? "BEGIN IMMEDIATE;" : "SAVEPOINT " + savepoint + ";",
                              operation + " (begin transaction)"));
  ++transaction_depth_;
  Status status = body();
  --transaction_depth_;
  if (status.ok()) {
    status = Exec(outermost ? "COMMIT;" : "RELEASE " + savepoint + ";", operation + " (commit)");
    if (status.ok()) return status;
  }
  // Roll back whatever `body` or the failed commit left. SQLite may already have rolled the whole transaction
  // back by itself (e.g. after SQLITE_FULL); then there is nothing left to undo.
  if (outermost && sqlite3_get_autocommit(db_) != 0) return status;
  Status rollback = Exec(outermost ? "ROLLBACK;" : "ROLLBACK TO " + savepoint + "; RELEASE " + savepoint + ";",
                         operation + " (rollback)");
  if (!rollback.ok()) return Status(status.code(), status.message() + "; then " + rollback.message());
  return status;
}

Status SqliteDb::EnableWal() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSqliteBusyTimeoutMs);
  while (true) {
    Result<std::string> mode = [&]() -> Result<std::string> {
      FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt, Prepare("PRAGMA journal_mode = WAL;", "enable WAL mode"));
      FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
      return has_row ? stmt.ColumnText(0) : std::string();
    }();
    if (mode.ok()) {
      if (*mode == "wal") return Status::Ok();
      return Status::IoError(label_ + ": enable WAL mode: SQLite kept journal mode '" + *mode + "'");
    }
    const bool busy = (sqlite3_extended_errcode(db_) & 0xff) == SQLITE_BUSY;
    if (!busy || std::chrono::steady_clock::now() >= deadline) return mode.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<int> SqliteDb::UserVersion() {
  FP4LAB_ASSIGN_OR_RETURN(SqliteStatement stmt, Prepare("PRAGMA user_version;", "read schema version"));
  FP4LAB_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  if (!has_row) return Status::Internal(label_ + ": read schema version: PRAGMA user_version returned no row");
  return static_cast<int>(stmt.ColumnInt64(0));
}

Status SqliteDb::SetUserVersion(int version) {
  // PRAGMA arguments cannot be bound; `version` is an integer, so formatting it is safe.
  return Exec("PRAGMA user_version = " + std::to_string(version) + ";",
              "set schema version " + std::to_string(version));
}

int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }

int64_t SqliteDb::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

}  // namespace fp4lab
