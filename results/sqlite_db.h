// A thin RAII layer over the SQLite C API for the result store: one connection, its cached prepared statements
// and nested write transactions. Every SQLite failure becomes a Status whose message names the database path
// and the operation, e.g. "results.sqlite: insert sample 'mmlu/nvfp4/abstract_algebra/3': FOREIGN KEY
// constraint failed (SQLITE_CONSTRAINT_FOREIGNKEY)".
//
// Not thread-safe: one SqliteDb (and everything prepared from it) belongs to one thread at a time. Several
// SqliteDb objects, in one process or many, may share a file; the busy timeout serializes their writers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fp4lab {

// How long a connection waits for another connection's write lock before failing with SQLITE_BUSY.
inline constexpr int kSqliteBusyTimeoutMs = 10'000;

// A prepared statement borrowed from SqliteDb's cache. On destruction it is reset and its bindings cleared,
// so the next Prepare() of the same SQL starts fresh. Bind errors are remembered and reported by the next
// Step()/Run(). REQUIRES: the SqliteDb that prepared it outlives it.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3_stmt* stmt, const std::string* db_path, std::string operation);
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Parameter indices are 1-based, as in sqlite3_bind_*.
  void BindText(int index, const std::string& value);
  void BindInt64(int index, int64_t value);
  void BindDouble(int index, double value);
  void BindNull(int index);
  void BindBlob(int index, std::string_view bytes);

  // Advances one row: true when a row is available, false when the statement has finished.
  Result<bool> Step();
  // Steps to completion, discarding rows (INSERT/UPDATE/DELETE).
  Status Run();

  // Column indices are 0-based. REQUIRES: the last Step() returned true.
  int64_t ColumnInt64(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;  // "" for NULL
  std::string ColumnBlob(int column) const;  // the bytes of a BLOB (or TEXT) column, "" for NULL
  bool ColumnIsNull(int column) const;

 private:
  Status Error(int rc) const;

  sqlite3_stmt* stmt_;          // borrowed from the cache; null after a move
  const std::string* db_path_;  // the owning SqliteDb's path
  std::string operation_;
  int bind_rc_ = 0;             // first failing sqlite3_bind_* code, 0 when all succeeded
};

class SqliteDb {
 public:
  // Opens `path` with sqlite3_open_v2 `flags` (SQLITE_OPEN_*), then sets the busy timeout and enables foreign
  // keys. `label` is the name used in messages (usually the path itself). IoError when SQLite cannot open it.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path, int flags, const std::string& label);
  ~SqliteDb();  // finalizes cached statements, then closes the connection
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more SQL statements without results. `operation` says what it was for, in error messages.
  Status Exec(const std::string& sql, const std::string& operation);
  // Returns the cached prepared statement for `sql`, preparing it on first use.
  // REQUIRES: no other live SqliteStatement for the same `sql` (they would share one sqlite3_stmt).
  Result<SqliteStatement> Prepare(const std::string& sql, const std::string& operation);

  // Runs `body` inside a write transaction: BEGIN IMMEDIATE at the outermost level (so concurrent writers
  // queue on the busy timeout instead of deadlocking), a SAVEPOINT when nested. Commits when `body` returns
  // OK; otherwise rolls back everything `body` did and returns its Status.
  Status InTransaction(const std::string& operation, const std::function<Status()>& body);

  // Puts the file in WAL journal mode (persistent; a no-op when it already is). Switching needs an exclusive
  // lock and SQLite reports SQLITE_BUSY for it without consulting the busy handler, so this retries for up to
  // kSqliteBusyTimeoutMs while other connections hold the file.
  Status EnableWal();

  // PRAGMA user_version.
  Result<int> UserVersion();
  Status SetUserVersion(int version);
  // Number of rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  int64_t LastInsertRowId() const;

  // A Status for SQLite result code `rc` on this connection: "<label>: <operation>: <message> (<code name>)".
  Status Error(int rc, const std::string& operation) const;

  sqlite3* handle() const { return db_; }
  const std::string& label() const { return label_; }

 private:
  SqliteDb(sqlite3* db, std::string label) : db_(db), label_(std::move(label)) {}

  sqlite3* db_;
  std::string label_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;  // owned; finalized in the destructor
  int transaction_depth_ = 0;
};

// Maps an SQLite primary/extended result code to a Status code: NOTADB/CORRUPT -> InvalidArgument (the file's
// content is bad), CONSTRAINT -> InvalidArgument (the rows are bad), CANTOPEN/IOERR/FULL/READONLY/BUSY/LOCKED/
// PERM -> IoError, NOMEM -> ResourceExhausted, INTERRUPT -> Aborted, anything else -> Internal.
StatusCode StatusCodeForSqlite(int rc);

}  // namespace fp4lab
