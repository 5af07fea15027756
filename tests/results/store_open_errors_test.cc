// Files that are not fp4lab databases are refused with a clear message and left byte-for-byte untouched.
#include <sqlite3.h>

#include <filesystem>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "results/result_store.h"
#include "store_test_util.h"

namespace fp4lab {
namespace {

using testing::MakeRun;
using testing::MakeSample;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

constexpr OpenMode kAllModes[] = {OpenMode::kCreateOrOpen, OpenMode::kReadWrite, OpenMode::kReadOnly};

// Opens `path` in every mode; each must fail with InvalidArgument whose message names the file and contains
// `expected_text`; the file's bytes must not change.
void ExpectRefusedAndUntouched(const std::string& path, const std::string& expected_text) {
  const std::string before = ReadBytes(path);
  ASSERT_FALSE(before.empty());
  for (OpenMode mode : kAllModes) {
    auto store = ResultStore::Open(path, mode);
    ASSERT_FALSE(store.ok()) << "mode " << static_cast<int>(mode);
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << store.status().ToString();
    EXPECT_EQ(store.status().message().rfind(path + ": not an fp4lab results database", 0), 0u)
        << store.status().message();
    EXPECT_NE(store.status().message().find(expected_text), std::string::npos) << store.status().message();
    EXPECT_EQ(ReadBytes(path), before) << "mode " << static_cast<int>(mode);
  }
}

TEST(StoreOpenErrorsTest, RandomBytesAreRefused) {
  TempDir dir;
  const std::string path = dir.File("random.sqlite");
  std::mt19937 rng(1234);
  std::string bytes(8192, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  WriteBytes(path, bytes);
  ExpectRefusedAndUntouched(path, "file is not a database (SQLITE_NOTADB)");
}

TEST(StoreOpenErrorsTest, ShortTextFileIsRefused) {
  TempDir dir;
  const std::string path = dir.File("notes.txt");
  WriteBytes(path, "these are not the results you are looking for\n");
  ExpectRefusedAndUntouched(path, "(SQLITE_NOTADB)");
}

// Writes a real results database big enough to span many pages and returns its bytes.
std::string WriteRealDatabase(const std::string& path) {
  {
    auto store = ResultStore::Open(path, OpenMode::kCreateOrOpen);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return "";
    auto run_id = (*store)->CreateRun(MakeRun("plan"));
    EXPECT_TRUE(run_id.ok()) << run_id.status().ToString();
    std::vector<SampleRecord> samples;
    for (int i = 0; i < 400; ++i) {
      SampleRecord s = MakeSample(*run_id, "mmlu", "bf16", "item/" + std::to_string(i), i % 2);
      s.prompt_text = std::string(200, 'a' + i % 26);  // spread rows over many pages
      samples.push_back(s);
    }
    EXPECT_TRUE((*store)->WriteSamples(samples).ok());
  }
  // Closing the last connection checkpoints the WAL into the main file and removes the -wal file.
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  return ReadBytes(path);
}

TEST(StoreOpenErrorsTest, TruncatedRealDatabaseIsRefused) {
  TempDir dir;
  const std::string path = dir.File("results.sqlite");
  const std::string whole = WriteRealDatabase(path);
  ASSERT_GT(whole.size(), 16u * 4096u);
  WriteBytes(path, whole.substr(0, whole.size() / 2));
  ExpectRefusedAndUntouched(path, "(SQLITE_CORRUPT)");
}

TEST(StoreOpenErrorsTest, GarbledPageInsideARealDatabaseIsRefused) {
  // Header, size and schema page stay valid; only PRAGMA quick_check sees the damage in the sample pages.
  TempDir dir;
  const std::string path = dir.File("results.sqlite");
  std::string bytes = WriteRealDatabase(path);
  ASSERT_GT(bytes.size(), 16u * 4096u);
  std::mt19937 rng(99);
  for (size_t i = 10 * 4096; i < 12 * 4096; ++i) bytes[i] = static_cast<char>(rng() & 0xff);
  WriteBytes(path, bytes);
  ExpectRefusedAndUntouched(path, "corrupt");
}

TEST(StoreOpenErrorsTest, ForeignSqliteDatabaseIsRefused) {
  TempDir dir;
  const std::string path = dir.File("foreign.sqlite");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE foo (x INTEGER); INSERT INTO foo VALUES (1);", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  ExpectRefusedAndUntouched(path, "it has no table 'metrics' (its tables: foo)");
}

TEST(StoreOpenErrorsTest, ForeignDatabaseWithOurTableNamesButNoVersionIsRefused) {
  TempDir dir;
  const std::string path = dir.File("lookalike.sqlite");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE runs (a); CREATE TABLE tasks (a); CREATE TABLE metrics (a); "
                               "CREATE TABLE samples (a);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  ExpectRefusedAndUntouched(path, "user_version is 0");
}

// An empty file, or an SQLite database without tables (e.g. one another process is still creating), holds
// nothing to protect: create mode initializes it, the other modes refuse it.
class EmptyFileTest : public ::testing::TestWithParam<bool> {};

TEST_P(EmptyFileTest, IsInitializedOnlyInCreateMode) {
  TempDir dir;
  const std::string path = dir.File("empty.sqlite");
  const bool sqlite_header = GetParam();
  if (sqlite_header) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x); DROP TABLE t;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  } else {
    WriteBytes(path, "");
  }
  const std::string before = ReadBytes(path);
  ASSERT_EQ(before.empty(), !sqlite_header);
  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    auto store = ResultStore::Open(path, mode);
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(store.status().message().find("empty"), std::string::npos) << store.status().message();
    EXPECT_EQ(ReadBytes(path), before);
  }
  auto store = ResultStore::Open(path, OpenMode::kCreateOrOpen);
  FP4LAB_ASSERT_OK(store);
  FP4LAB_ASSERT_OK((*store)->CreateRun(MakeRun("plan")));
}

INSTANTIATE_TEST_SUITE_P(ZeroBytesOrNoTables, EmptyFileTest, ::testing::Bool());

}  // namespace
}  // namespace fp4lab
