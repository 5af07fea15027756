// Small file helpers shared by every layer: the one way fp4lab opens an input file (regular files only, size
// checked, FIFOs / directories / symlink loops refused without blocking), whole-file reads, depth-bounded JSON
// parsing, and atomic writes.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

// Default cap of ReadFile: no text, JSON or dataset file fp4lab reads whole is near it; a larger one is refused
// before any allocation.
inline constexpr uint64_t kMaxReadFileBytes = uint64_t{4} << 30;
// Deepest nesting (objects + arrays) any JSON input may have; fp4lab's own formats need at most 5.
inline constexpr int kMaxJsonDepth = 64;

// A read-only file descriptor of a regular file; closes on destruction. Move-only.
class OpenedFile {
 public:
  OpenedFile() = default;
  OpenedFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  OpenedFile(OpenedFile&& other) noexcept;
  OpenedFile& operator=(OpenedFile&& other) noexcept;
  OpenedFile(const OpenedFile&) = delete;
  OpenedFile& operator=(const OpenedFile&) = delete;
  ~OpenedFile();
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }  // bytes, from fstat at open time
  // Gives up ownership of the descriptor (the caller closes it).
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The one way to open an input file. stat()s `path` first (never opens a FIFO or device), opens it O_NONBLOCK and
// fstat()s the descriptor (so a path swapped in between is caught). Errors name the path:
//   NotFound "<path>: no such file"; InvalidArgument "<path>: is a directory / a FIFO / a symlink loop / not a
//   regular file, expected a file" or "<path>: N bytes, more than the M-byte limit"; IoError otherwise.
Result<OpenedFile> OpenRegularFile(const std::string& path, uint64_t max_bytes = kMaxReadFileBytes);

// True when `path` is a directory entry of any kind, including one that cannot be read: a symlink loop, a dangling
// symlink, a FIFO, a directory (lstat, so nothing is followed or opened). Optional inputs (hf_quant_config.json,
// tokenizer.json, ...) are read whenever this says so, through OpenRegularFile, so a broken one is an error naming
// it rather than silently skipped. Only "no such entry" (ENOENT, ENOTDIR) is false; other lstat errors are true, so
// that the read reports them.
bool HasDirectoryEntry(const std::string& path);

// OpenRegularFile + read everything.
Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes = kMaxReadFileBytes);

// Parses JSON text with a nesting limit of kMaxJsonDepth and no duplicate object keys (nlohmann would silently
// keep the last). `where` names the source in errors: InvalidArgument "<where>: not valid JSON: ...",
// "<where>: JSON nested deeper than 64 levels", "<where>: duplicate key 'k'".
Result<nlohmann::json> ParseJsonBounded(std::string_view text, const std::string& where);
// The same for text whose object keys must keep their order (chat-template inputs: tojson prints them as given).
Result<nlohmann::ordered_json> ParseOrderedJsonBounded(std::string_view text, const std::string& where);
// Reads a gzip file (gzip -9 -n, as the bundled fixtures and data are stored) and returns its inflated bytes.
// NotFound if missing, InvalidArgument "<path>: not a valid gzip file" if it does not inflate.
Result<std::string> ReadGzipFile(const std::string& path);
// ReadFile + ParseJsonBounded.
Result<nlohmann::json> ReadJsonFile(const std::string& path);

// Writes through `write` into "<path>.tmp.<pid>" in the same directory, flushes, fsyncs and renames over `path`.
// If `write` fails or anything else goes wrong the temporary is removed and `path` is left as it was.
Status WriteFileAtomically(const std::string& path, const std::function<Status(std::ostream&)>& write);

}  // namespace fp4lab
