// ResultStore::Open: inspect an existing file read-only, then create, migrate or refuse it.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <system_error>

#include "engine/file_util.h"
#include "results/result_store.h"
#include "results/schema.h"

namespace fp4lab {
namespace {

// What a read-only look at an existing file found. Only files that passed every check get here.
struct FileInspection {
  // Nothing in it yet: zero bytes, or an SQLite database without tables and with user_version 0 (e.g. one
  // another process is creating right now: its header is written before its schema commits).
  bool empty = false;
  int user_version = 0;
};

// Drops a leading "<path>: " from an inner error message, so the outer message names the path once.
std::string WithoutPathPrefix(const std::string& message, const std::string& path) {
  const std::string prefix = path + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

Status NotOurs(const std::string& path, const std::string& why) {
  return Status::InvalidArgument(path + ": not an fp4lab results database: " + why +
                                 "; the file was left untouched");
}

// Checks that `tables` and `user_version` describe an fp4lab database this build can use.
Status CheckSchema(const std::string& path, const std::set<std::string>& tables, int user_version) {
  for (const std::string& required : RequiredTables()) {
    if (tables.count(required) == 0) {
      std::string found;
      for (const std::string& table : tables) found += (found.empty() ? "" : ", ") + table;
      return NotOurs(path, "it has no table '" + required + "' (its tables: " + (found.empty() ? "none" : found) +
                               ")");
    }
  }
  if (user_version < 1) {
    return NotOurs(path, "it has tables named like ours but PRAGMA user_version is " + std::to_string(user_version) +
                             " (fp4lab databases start at schema version 1)");
  }
  if (user_version > kSchemaVersion) {
    return Status::FailedPrecondition(path + " has schema version " + std::to_string(user_version) +
                                      "; this fp4lab knows up to " + std::to_string(kSchemaVersion) +
                                      ": upgrade fp4lab");
  }
  return Status::Ok();
}

// Looks at an existing file through a read-only connection: header, integrity, tables, version.
Result<FileInspection> Inspect(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IoError(path + ": cannot read the file size: " + ec.message());
  if (size == 0) return FileInspection{.empty = true, .user_version = 0};

  auto wrap = [&path](const Status& status) {
    if (status.code() != StatusCode::kInvalidArgument) return status;
    return NotOurs(path, "not a readable SQLite file, or a corrupt one (" + WithoutPathPrefix(status.message(), path) +
                             ")");
  };
  auto db = SqliteDb::Open(path, SQLITE_OPEN_READONLY, path);
  if (!db.ok()) return wrap(db.status());
  auto user_version = (*db)->UserVersion();
  if (!user_version.ok()) return wrap(user_version.status());

  // quick_check reads every page (linear in the file size) and reports structural damage as rows.
  {
    auto stmt = (*db)->Prepare("PRAGMA quick_check(3);", "check integrity");
    if (!stmt.ok()) return wrap(stmt.status());
    std::string problems;
    while (true) {
      auto has_row = stmt->Step();
      if (!has_row.ok()) return wrap(has_row.status());
      if (!*has_row) break;
      std::string line = stmt->ColumnText(0);
      if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
    }
    if (!problems.empty()) return NotOurs(path, "the SQLite file is corrupt (quick_check: " + problems + ")");
  }

  auto tables = ListTables(**db);
  if (!tables.ok()) return wrap(tables.status());
  if (tables->empty() && *user_version == 0) return FileInspection{.empty = true, .user_version = 0};
  FP4LAB_RETURN_IF_ERROR(CheckSchema(path, *tables, *user_version));
  return FileInspection{.empty = false, .user_version = *user_version};
}

// Opens `path` for writing; creates the schema in an empty database (only when `may_initialize`) or migrates
// an older one. The check is repeated under the write lock, since another process may have created or
// migrated the file after Inspect.
Result<std::unique_ptr<SqliteDb>> OpenWritable(const std::string& path, bool may_initialize) {
  const int flags = SQLITE_OPEN_READWRITE | (may_initialize ? SQLITE_OPEN_CREATE : 0);
  FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path, flags, path));
  // WAL lets readers run beside one writer; NORMAL sync in WAL mode cannot corrupt, at most lose the last
  // commits on power loss. journal_mode is persistent, so on an existing fp4lab file this is a no-op.
  FP4LAB_RETURN_IF_ERROR(db->EnableWal());
  FP4LAB_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = NORMAL;", "set synchronous mode"));
  SqliteDb& ref = *db;
  FP4LAB_RETURN_IF_ERROR(ref.InTransaction("prepare schema", [&]() -> Status {
    FP4LAB_ASSIGN_OR_RETURN(int user_version, ref.UserVersion());
    FP4LAB_ASSIGN_OR_RETURN(std::set<std::string> tables, ListTables(ref));
    if (tables.empty() && user_version == 0 && may_initialize) return CreateSchema(ref);
    FP4LAB_RETURN_IF_ERROR(CheckSchema(path, tables, user_version));
    return user_version < kSchemaVersion ? Migrate(ref, user_version, kSchemaVersion) : Status::Ok();
  }));
  return db;
}

// Copies the file into an in-memory database and migrates the copy; the file is not written.
Result<std::unique_ptr<SqliteDb>> MigratedInMemoryCopy(SqliteDb& file_db, int from_version) {
  const std::string& path = file_db.label();
  FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> memory,
                          SqliteDb::Open(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, path));
  sqlite3_backup* backup = sqlite3_backup_init(memory->handle(), "main", file_db.handle(), "main");
  if (backup == nullptr) return memory->Error(sqlite3_errcode(memory->handle()), "copy into memory to migrate");
  sqlite3_backup_step(backup, -1);
  int rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_OK) return memory->Error(rc, "copy into memory to migrate");
  SqliteDb& ref = *memory;
  FP4LAB_RETURN_IF_ERROR(ref.InTransaction("migrate in-memory copy",
                                           [&] { return Migrate(ref, from_version, kSchemaVersion); }));
  return memory;
}

}  // namespace

Result<std::unique_ptr<ResultStore>> ResultStore::Open(const std::string& path, OpenMode mode) {
  // SQLite opens the file itself; here only its kind is checked, as for every other input (file_util.h): a
  // directory, FIFO or symlink loop is bad input (exit 2), not an unclear SQLite failure.
  const Status kind = OpenRegularFile(path, std::numeric_limits<uint64_t>::max()).status();
  if (!kind.ok() && kind.code() != StatusCode::kNotFound) return kind;
  if (!kind.ok()) {
    if (mode != OpenMode::kCreateOrOpen) {
      return Status::NotFound(path + ": no such results database (fp4lab run creates one)");
    }
    FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, OpenWritable(path, /*may_initialize=*/true));
    return std::unique_ptr<ResultStore>(new ResultStore(path, mode, std::move(db), kSchemaVersion));
  }

  FP4LAB_ASSIGN_OR_RETURN(FileInspection inspection, Inspect(path));
  if (inspection.empty && mode != OpenMode::kCreateOrOpen) {
    return NotOurs(path, "the file is empty (no tables yet)");
  }
  if (mode == OpenMode::kReadOnly) {
    FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path, SQLITE_OPEN_READONLY, path));
    // Read again: a writer may have migrated the file since Inspect.
    FP4LAB_ASSIGN_OR_RETURN(int user_version, db->UserVersion());
    FP4LAB_ASSIGN_OR_RETURN(std::set<std::string> tables, ListTables(*db));
    FP4LAB_RETURN_IF_ERROR(CheckSchema(path, tables, user_version));
    if (user_version < kSchemaVersion) {
      FP4LAB_ASSIGN_OR_RETURN(db, MigratedInMemoryCopy(*db, user_version));
    }
    return std::unique_ptr<ResultStore>(new ResultStore(path, mode, std::move(db), user_version));
  }
  FP4LAB_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, OpenWritable(path, inspection.empty));
  return std::unique_ptr<ResultStore>(new ResultStore(path, mode, std::move(db), kSchemaVersion));
}

}  // namespace fp4lab
