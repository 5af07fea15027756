// safetensors checkpoints: a memory-mapped, fully validated reader (single file or sharded with
// model.safetensors.index.json) and a writer.
//
// File format (huggingface/safetensors): u64 little-endian header length N, then N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the data
// region; offsets are relative to the data region. The reader checks: N fits in the file and is at most 100 MiB,
// the JSON parses, every dtype is known, every shape is non-negative, begin <= end <= data size,
// end - begin == numel * dtype size, and byte ranges do not overlap.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/dtype.h"
#include "engine/status.h"

namespace fp4lab {

// A tensor inside a mapped file. `bytes` stays valid as long as the SafetensorsReader that produced it lives.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;
  std::string file;  // path of the file it lives in (for error messages)

  int64_t NumElements() const;
  std::string ShapeString() const;  // "[64, 172]"
};

class MappedFile;

// Where a model's tensors come from: a checkpoint on disk (SafetensorsReader) or a synthetic source (random
// weights for benchmark presets). Views stay valid for the source's lifetime.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // nullptr if absent.
  virtual const TensorView* Find(std::string_view name) const = 0;
  // Names the source in error messages (a directory or file path, or "preset llama-3.1-8b").
  virtual const std::string& path() const = 0;
  // NotFound "<path>: checkpoint has no tensor '<name>'" if absent.
  Result<const TensorView*> Require(std::string_view name) const;
};

// Read-only view over one safetensors file or a sharded set. Not copyable; thread-safe for reads.
class SafetensorsReader : public TensorSource {
 public:
  // `path` is a .safetensors file, or a directory holding model.safetensors or model.safetensors.index.json.
  static Result<std::unique_ptr<SafetensorsReader>> Open(const std::string& path);
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const TensorView* Find(std::string_view name) const override;
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // __metadata__ of the first file (e.g. {"format": "pt"}).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<std::string>& files() const { return files_; }
  const std::string& path() const override { return path_; }

 private:
  SafetensorsReader() = default;
  Status AddFile(const std::string& file);

  std::string path_;
  std::vector<std::string> files_;
  std::vector<std::unique_ptr<MappedFile>> maps_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// Parses and validates one file's header against the file size (exposed for tests and tools).
// `file` names the file in error messages. On success fills `out` with views into `data` (the whole file).
Status ParseSafetensors(std::span<const uint8_t> data, const std::string& file, std::vector<TensorView>* out,
                        std::map<std::string, std::string>* metadata);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // numel * DTypeSize(dtype) bytes, little-endian
};

// Writes one safetensors file (tensors in the given order, 8-byte aligned header padding with spaces, as the
// reference implementation does). Writes to "<path>.tmp" then renames, so a failure never leaves a partial file.
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata);

}  // namespace fp4lab
