// Hostile files handed to the engine's readers (issue 19): every case ends in a clear InvalidArgument or NotFound
// naming the path, never a crash, a hang or a silent acceptance. Covers engine/file_util.h (the one way to open an
// input file, the depth-bounded JSON parse), the safetensors reader (checked element counts, duplicate names,
// shard index paths kept inside the model directory), the tokenizer and the quantization config, and optional
// files present as an unreadable directory entry.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/file_util.h"
#include "engine/quant_config.h"
#include "engine/safetensors.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer/hf_tokenizer.h"
#include "test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// A safetensors file: u64 header length, the header text as given (not re-serialized, so duplicate keys survive),
// then `data_bytes` zero bytes.
void WriteSafetensors(const std::string& path, const std::string& header, size_t data_bytes) {
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header;
  bytes += std::string(data_bytes, '\0');
  WriteText(path, bytes);
}

// One valid F32 [2] tensor named `name`, 8 data bytes.
std::string OneTensorHeader(const std::string& name) {
  return "{\"" + name + "\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}";
}

Status OpenStatus(const std::string& path) { return SafetensorsReader::Open(path).status(); }

// ---------------------------------------------------------------------------------------------------------------
// OpenRegularFile / ReadFile

TEST(HostileFilesTest, FifoIsRefusedWithoutBlocking) {
  const std::string dir = TempDir("hostile_fifo");
  const std::string fifo = dir + "/config.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer ever opens the FIFO: a plain open() would block forever and the test would time out.
  const auto read = ReadFile(fifo);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(read.status().message(), fifo + ": is a FIFO, expected a file");
  EXPECT_EQ(ReadJsonFile(fifo).status().message(), fifo + ": is a FIFO, expected a file");
}

TEST(HostileFilesTest, DirectorySymlinkLoopAndMissingFileAreNamed) {
  const std::string dir = TempDir("hostile_kinds");
  fs::create_directory(dir + "/sub");
  fs::create_symlink(dir + "/loop_b", dir + "/loop_a");
  fs::create_symlink(dir + "/loop_a", dir + "/loop_b");
  EXPECT_EQ(ReadFile(dir + "/sub").status().message(), dir + "/sub: is a directory, expected a file");
  EXPECT_EQ(ReadFile(dir + "/sub").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadFile(dir + "/loop_a").status().message(), dir + "/loop_a: is a symlink loop, expected a file");
  EXPECT_EQ(ReadFile(dir + "/loop_a").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadFile(dir + "/absent").status().code(), StatusCode::kNotFound);
}

// HasDirectoryEntry decides whether an optional input is read; only "no such entry" may mean absent.
TEST(HostileFilesTest, EveryKindOfDirectoryEntryCountsAsPresent) {
  const std::string dir = TempDir("hostile_entries");
  WriteText(dir + "/file", "x");
  fs::create_directory(dir + "/sub");
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);
  fs::create_symlink(dir + "/loop", dir + "/loop");
  fs::create_symlink(dir + "/absent", dir + "/dangling");
  for (const char* present : {"file", "sub", "fifo", "loop", "dangling"}) {
    EXPECT_TRUE(HasDirectoryEntry(dir + "/" + present)) << present;
  }
  EXPECT_FALSE(HasDirectoryEntry(dir + "/absent"));
  EXPECT_FALSE(HasDirectoryEntry(dir + "/file/below_a_file"));
}

TEST(HostileFilesTest, SizeLimitIsCheckedBeforeReading) {
  const std::string path = TempDir("hostile_size") + "/big.txt";
  WriteText(path, std::string(100, 'x'));
  EXPECT_TRUE(ReadFile(path, 100).ok());
  const auto refused = ReadFile(path, 99);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), path + ": 100 bytes, more than the 99-byte limit for this file");
}

// ---------------------------------------------------------------------------------------------------------------
// ParseJsonBounded

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(HostileFilesTest, JsonDepthIsBounded) {
  EXPECT_TRUE(ParseJsonBounded(Nested(kMaxJsonDepth), "x.json").ok());
  const auto too_deep = ParseJsonBounded(Nested(kMaxJsonDepth + 1), "x.json");
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.status().message(), "x.json: JSON nested deeper than 64 levels");
  // 100,000 levels of objects: refused quickly, no stack overflow.
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100000, '}');
  EXPECT_EQ(ParseJsonBounded(objects, "x.json").status().code(), StatusCode::kInvalidArgument);
}

TEST(HostileFilesTest, JsonDuplicateKeysAreRefusedPerObject) {
  EXPECT_EQ(ParseJsonBounded(R"({"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]})", "x.json")->at("b").at("a"), 2);
  EXPECT_EQ(ParseJsonBounded(R"({"a": 1, "b": [{"x": 0}], "a": 2})", "x.json").status().message(),
            "x.json: duplicate key 'a'");
  EXPECT_EQ(ParseJsonBounded(R"({"b": {"x": 1, "x": 1}})", "x.json").status().message(), "x.json: duplicate key 'x'");
  EXPECT_THAT(ParseJsonBounded("{\"a\": ", "x.json").status().message(), HasSubstr("x.json: not valid JSON: "));
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors

TEST(HostileFilesTest, ElementCountOverflowIsRefused) {
  const std::string dir = TempDir("hostile_numel");
  // 32768 x (2^48 + 1) x 2 bytes wraps around 2^64 to exactly 65536 bytes: must not match the stored range.
  const std::string wraps = dir + "/wraps.safetensors";
  WriteSafetensors(wraps,
                   R"({"e": {"dtype": "BF16", "shape": [32768, 281474976710657], "data_offsets": [0, 65536]}})",
                   65536);
  EXPECT_EQ(OpenStatus(wraps).message(),
            wraps + ": tensor 'e': shape [32768, 281474976710657] has more elements than 64 bits hold");
  // [2^32, 2^32] has 2^64 elements, which wraps to 0 = the 0 bytes stored.
  const std::string zero = dir + "/zero.safetensors";
  WriteSafetensors(zero, R"({"z": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0);
  EXPECT_EQ(OpenStatus(zero).code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(OpenStatus(zero).message(), HasSubstr("more elements than 64 bits hold"));
}

TEST(HostileFilesTest, DuplicateTensorNamesAreRefused) {
  const std::string path = TempDir("hostile_dup") + "/model.safetensors";
  WriteSafetensors(path,
                   R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                   R"( "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                   16);
  EXPECT_EQ(OpenStatus(path).message(), path + " header: duplicate key 'w'");
}

TEST(HostileFilesTest, CheckpointFifoAndSymlinkLoopAreRefused) {
  const std::string dir = TempDir("hostile_ckpt");
  ASSERT_EQ(::mkfifo((dir + "/model.safetensors").c_str(), 0600), 0);
  EXPECT_EQ(OpenStatus(dir).message(), dir + "/model.safetensors: is a FIFO, expected a file");
  fs::remove(dir + "/model.safetensors");
  fs::create_symlink(dir + "/model.safetensors", dir + "/model.safetensors");  // a loop of one
  EXPECT_EQ(OpenStatus(dir).message(), dir + "/model.safetensors: is a symlink loop, expected a file");
  EXPECT_EQ(OpenStatus(dir).code(), StatusCode::kInvalidArgument);
}

// A sharded checkpoint: `weight_map` as given, with shard files a.safetensors (tensor "a") and b.safetensors
// (tensor "b") in `dir`.
void WriteShardedCheckpoint(const std::string& dir, const std::string& weight_map) {
  WriteSafetensors(dir + "/a.safetensors", OneTensorHeader("a"), 8);
  WriteSafetensors(dir + "/b.safetensors", OneTensorHeader("b"), 8);
  WriteText(dir + "/model.safetensors.index.json", "{\"metadata\": {}, \"weight_map\": " + weight_map + "}");
}

TEST(HostileFilesTest, ShardedIndexIsKeptInsideTheModelDirectory) {
  const std::string root = TempDir("hostile_index");
  const std::string dir = root + "/model";
  fs::create_directory(dir);
  WriteShardedCheckpoint(dir, R"({"a": "a.safetensors", "b": "b.safetensors"})");
  ASSERT_TRUE(SafetensorsReader::Open(dir).ok()) << OpenStatus(dir).ToString();
  const std::string index = dir + "/model.safetensors.index.json";

  // A real file outside the directory, reachable by each trick.
  WriteSafetensors(root + "/outside.safetensors", OneTensorHeader("b"), 8);
  fs::create_symlink(root + "/outside.safetensors", dir + "/link.safetensors");
  for (const std::string& shard :
       {std::string("../outside.safetensors"), root + "/outside.safetensors", std::string("link.safetensors"),
        std::string("sub/../../outside.safetensors"), std::string("")}) {
    WriteShardedCheckpoint(dir, R"({"a": "a.safetensors", "b": ")" + shard + R"("})");
    const Status s = OpenStatus(dir);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << shard;
    EXPECT_EQ(s.message(), index + ": weight_map names shard '" + shard +
                               "' outside the model directory (expected a file name inside " + dir + ")");
  }
}

TEST(HostileFilesTest, TensorListedUnderTheWrongShardIsRefused) {
  const std::string dir = TempDir("hostile_wrong_shard");
  // Both shards are loaded and hold both tensors, but each under the other's name: accepted before issue 19.
  WriteShardedCheckpoint(dir, R"({"a": "b.safetensors", "b": "a.safetensors"})");
  EXPECT_EQ(OpenStatus(dir).message(), dir + "/model.safetensors.index.json: tensor 'a' is listed in " + dir +
                                           "/b.safetensors but is stored in " + dir + "/a.safetensors");
  // Only b.safetensors is named, so a.safetensors is never read.
  WriteShardedCheckpoint(dir, R"({"a": "b.safetensors", "b": "b.safetensors"})");
  EXPECT_EQ(OpenStatus(dir).message(), dir + "/model.safetensors.index.json: tensor 'a' is listed in " + dir +
                                           "/b.safetensors but no shard holds it");
}

// ---------------------------------------------------------------------------------------------------------------
// tokenizer.model and quant configs

TEST(HostileFilesTest, TokenizerModelDirectoryIsRefused) {
  const std::string dir = TempDir("hostile_tokenizer");
  fs::create_directory(dir + "/tokenizer.model");
  const auto tokenizer = Tokenizer::Open(dir, -1, -1);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer.status().message(), dir + "/tokenizer.model: is a directory, expected a file");
}

// std::filesystem::exists is false for a symlink loop: a looping tokenizer.json used to fall through to
// tokenizer.model (a different tokenizer) or to "tokenizer missing".
TEST(HostileFilesTest, TokenizerJsonSymlinkLoopIsRefusedNotSkipped) {
  const std::string dir = TempDir("hostile_tokenizer_json_loop");
  fs::create_symlink(dir + "/tokenizer.json", dir + "/tokenizer.json");
  const auto tokenizer = Tokenizer::Open(dir, -1, -1);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer.status().message(), dir + "/tokenizer.json: is a symlink loop, expected a file");
}

// The Sequence normalizer's parser recurses per level: without the depth bound this overflowed the stack
// (reproduced under the tokenizer_json fuzz target, tests/fuzz/).
TEST(HostileFilesTest, DeeplyNestedTokenizerJsonIsRefused) {
  const int depth = 100000;
  std::string text = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": )";
  for (int i = 0; i < depth; ++i) text += R"({"type": "Sequence", "normalizers": [)";
  text += R"({"type": "Lowercase"})";
  for (int i = 0; i < depth; ++i) text += "]}";
  text += "}";
  const auto tokenizer = tokenizer::HfTokenizer::Parse(text, "deep/tokenizer.json");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().message(), "deep/tokenizer.json: JSON nested deeper than 64 levels");
}

// A looping, FIFO or directory hf_quant_config.json used to be skipped (fs::exists is false for a loop), so the
// checkpoint was read as unquantized; now each is refused naming the file, and the FIFO without blocking.
TEST(HostileFilesTest, HfQuantConfigLoopFifoOrDirectoryIsRefusedNotSkipped) {
  for (const std::string kind : {"loop", "fifo", "dir"}) {
    const std::string dir = TempDir("hostile_hf_quant_" + kind);
    WriteText(dir + "/config.json", "{}");
    const std::string path = dir + "/hf_quant_config.json";
    if (kind == "loop") fs::create_symlink(path, path);
    if (kind == "fifo") ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    if (kind == "dir") fs::create_directory(path);
    const std::string what = kind == "loop" ? "a symlink loop" : kind == "fifo" ? "a FIFO" : "a directory";
    const auto format = ResolveKvCacheFormatOf(dir, "auto");
    ASSERT_FALSE(format.ok()) << kind;
    EXPECT_EQ(format.status().code(), StatusCode::kInvalidArgument) << kind;
    EXPECT_EQ(format.status().message(), path + ": is " + what + ", expected a file");
  }
}

TEST(HostileFilesTest, UnknownKvCacheAlgorithmIsRefusedNamingTheField) {
  const nlohmann::json hf = {{"quantization", {{"quant_algo", "NVFP4"}, {"kv_cache_quant_algo", "INT2"}}}};
  const auto parsed = ParseQuantConfig(nlohmann::json::object(), "config.json", &hf, "hf_quant_config.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("hf_quant_config.json"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("kv_cache_quant_algo"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("unknown KV-cache algorithm 'INT2', expected FP8, NVFP4, INT8"));
}

TEST(HostileFilesTest, DeeplyNestedQuantConfigIsRefused) {
  const std::string path = TempDir("hostile_hf_quant") + "/hf_quant_config.json";
  WriteText(path, "{\"quantization\": " + Nested(100000) + "}");
  EXPECT_EQ(ReadJsonFile(path).status().message(), path + ": JSON nested deeper than 64 levels");
}

}  // namespace
}  // namespace fp4lab
