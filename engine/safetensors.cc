#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/file_util.h"

namespace fp4lab {

namespace fs = std::filesystem;

namespace {
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit
}  // namespace

// Owns one read-only mmap of a whole file.
class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path) {
    FP4LAB_ASSIGN_OR_RETURN(OpenedFile file, OpenRegularFile(path, std::numeric_limits<uint64_t>::max()));
    auto mapped = std::unique_ptr<MappedFile>(new MappedFile());
    mapped->size_ = static_cast<size_t>(file.size());
    if (mapped->size_ > 0) {
      void* p = ::mmap(nullptr, mapped->size_, PROT_READ, MAP_PRIVATE, file.fd(), 0);
      if (p == MAP_FAILED) return Status::IoError(path + ": cannot mmap: " + std::strerror(errno));
      mapped->data_ = static_cast<const uint8_t*>(p);
    }
    return mapped;
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

int64_t TensorView::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Status ParseSafetensors(std::span<const uint8_t> data, const std::string& file, std::vector<TensorView>* out,
                        std::map<std::string, std::string>* metadata) {
  if (data.size() < 8) {
    return Status::InvalidArgument(file + ": truncated safetensors file: " + std::to_string(data.size()) +
                                   " bytes, the 8-byte header length alone needs 8");
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, data.data(), 8);  // little-endian hosts only (x86-64, aarch64)
  if (header_len > kMaxHeaderBytes) {
    return Status::InvalidArgument(file + ": header length " + std::to_string(header_len) +
                                   " exceeds the 100 MiB limit (not a safetensors file?)");
  }
  if (header_len > data.size() - 8) {
    return Status::InvalidArgument(file + ": truncated safetensors file: header claims " +
                                   std::to_string(header_len) + " bytes but only " +
                                   std::to_string(data.size() - 8) + " follow");
  }
  // Bounded parse: duplicate tensor names are refused (nlohmann alone would keep the last one silently).
  FP4LAB_ASSIGN_OR_RETURN(
      nlohmann::json header,
      ParseJsonBounded(std::string_view(reinterpret_cast<const char*>(data.data()) + 8, header_len), file + " header"));
  if (!header.is_object()) return Status::InvalidArgument(file + ": header must be a JSON object");
  const uint64_t data_size = data.size() - 8 - header_len;
  const uint8_t* base = data.data() + 8 + header_len;

  std::vector<TensorView> views;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) return Status::InvalidArgument(file + ": __metadata__ must be an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return Status::InvalidArgument(file + ": __metadata__['" + m.key() + "'] must be a string");
        }
        if (metadata != nullptr) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = file + ": tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      return Status::InvalidArgument(where + ": expected an object with dtype, shape and data_offsets");
    }
    if (!entry["dtype"].is_string()) return Status::InvalidArgument(where + ": dtype must be a string");
    const std::string dtype_name = entry["dtype"].get<std::string>();
    auto dtype = ParseDType(dtype_name);
    if (!dtype) {
      return Status::InvalidArgument(where + ": unknown dtype '" + dtype_name +
                                     "' (supported: F32, F16, BF16, F8_E4M3, U8, I8, I32, I64)");
    }
    TensorView view;
    view.name = name;
    view.dtype = *dtype;
    view.file = file;
    const auto& shape = entry["shape"];
    if (!shape.is_array()) return Status::InvalidArgument(where + ": shape must be an array");
    // Element and byte counts are multiplied with overflow checks: a shape whose product wraps around 64 bits
    // (e.g. [2^32, 2^32] with 0 bytes) must not match a small byte range.
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return Status::InvalidArgument(where + ": shape entries must be non-negative integers");
      }
      view.shape.push_back(d.get<int64_t>());
      overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(d.get<int64_t>()), &numel);
    }
    uint64_t expected = 0;
    overflow |= __builtin_mul_overflow(numel, uint64_t{DTypeSize(*dtype)}, &expected);
    if (overflow || expected > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Status::InvalidArgument(where + ": shape " + view.ShapeString() + " has more elements than 64 bits hold");
    }
    const auto& offs = entry["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) {
      return Status::InvalidArgument(where + ": data_offsets must be two non-negative integers");
    }
    const uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return Status::InvalidArgument(where + ": data_offsets [" + std::to_string(begin) + ", " +
                                     std::to_string(end) + ") overrun the data region of " +
                                     std::to_string(data_size) + " bytes (truncated file?)");
    }
    if (end - begin != expected) {
      return Status::InvalidArgument(where + ": data_offsets hold " + std::to_string(end - begin) +
                                     " bytes but shape " + view.ShapeString() + " x " +
                                     std::string(DTypeName(*dtype)) + " needs " + std::to_string(expected));
    }
    view.bytes = {base + begin, static_cast<size_t>(end - begin)};
    ranges.emplace_back(begin, end);
    views.push_back(std::move(view));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      return Status::InvalidArgument(file + ": tensors overlap at data offset " + std::to_string(ranges[i].first));
    }
  }
  std::sort(views.begin(), views.end(), [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  *out = std::move(views);
  return Status::Ok();
}

SafetensorsReader::~SafetensorsReader() = default;

Status SafetensorsReader::AddFile(const std::string& file) {
  FP4LAB_ASSIGN_OR_RETURN(auto mapped, MappedFile::Open(file));
  std::vector<TensorView> views;
  std::map<std::string, std::string> metadata;
  FP4LAB_RETURN_IF_ERROR(ParseSafetensors(mapped->bytes(), file, &views, &metadata));
  if (files_.empty()) metadata_ = std::move(metadata);
  for (auto& v : views) {
    if (index_.count(v.name)) {
      return Status::InvalidArgument(file + ": tensor '" + v.name + "' also appears in another shard");
    }
    index_[v.name] = tensors_.size();
    tensors_.push_back(std::move(v));
  }
  files_.push_back(file);
  maps_.push_back(std::move(mapped));
  return Status::Ok();
}

namespace {

// True if something (even a dangling or looping symlink) is at `p`; its kind is checked when it is opened.
bool Present(const fs::path& p) {
  struct stat st{};
  return ::lstat(p.c_str(), &st) == 0;
}

// A shard named by an index must be a file inside the model directory: no absolute path, no "..", and no symlink
// resolving outside it. Returns the path to open.
Result<std::string> ShardInside(const fs::path& dir, const std::string& shard, const std::string& index_path) {
  const fs::path rel(shard);
  bool escapes = shard.empty() || rel.is_absolute();
  for (const auto& part : rel) escapes |= part == "..";
  const fs::path full = dir / rel;
  std::error_code ec_dir, ec_full;
  const fs::path real_dir = fs::canonical(dir, ec_dir);
  const fs::path real_full = fs::canonical(full, ec_full);
  if (!escapes && !ec_dir && !ec_full) {
    auto [dir_end, _] = std::mismatch(real_dir.begin(), real_dir.end(), real_full.begin(), real_full.end());
    escapes = dir_end != real_dir.end();
  }
  if (escapes) {
    return Status::InvalidArgument(index_path + ": weight_map names shard '" + shard +
                                   "' outside the model directory (expected a file name inside " + dir.string() + ")");
  }
  return full.string();
}

}  // namespace

Result<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(const std::string& path) {
  auto reader = std::unique_ptr<SafetensorsReader>(new SafetensorsReader());
  reader->path_ = path;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    FP4LAB_RETURN_IF_ERROR(reader->AddFile(path));
    return reader;
  }
  const fs::path dir(path);
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (Present(dir / "model.safetensors")) {
    FP4LAB_RETURN_IF_ERROR(reader->AddFile((dir / "model.safetensors").string()));
  } else if (Present(index_path)) {
    FP4LAB_ASSIGN_OR_RETURN(nlohmann::json index, ReadJsonFile(index_path.string()));
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      return Status::InvalidArgument(index_path.string() + ": expected an object field 'weight_map'");
    }
    std::map<std::string, std::string> shard_of;  // tensor name -> path of the shard the index names
    std::vector<std::string> shards;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return Status::InvalidArgument(index_path.string() + ": weight_map['" + it.key() + "'] must be a file name");
      }
      FP4LAB_ASSIGN_OR_RETURN(std::string shard, ShardInside(dir, it.value().get<std::string>(), index_path.string()));
      shard_of[it.key()] = shard;
      if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
    }
    std::sort(shards.begin(), shards.end());
    for (const auto& shard : shards) FP4LAB_RETURN_IF_ERROR(reader->AddFile(shard));
    for (const auto& [name, shard] : shard_of) {
      const TensorView* view = reader->Find(name);
      if (view == nullptr || view->file != shard) {
        return Status::InvalidArgument(index_path.string() + ": tensor '" + name + "' is listed in " + shard +
                                       (view == nullptr ? " but no shard holds it" : " but is stored in " + view->file));
      }
    }
  } else {
    return Status::NotFound(path + ": no model.safetensors or model.safetensors.index.json in this directory");
  }
  return reader;
}

const TensorView* SafetensorsReader::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<const TensorView*> TensorSource::Require(std::string_view name) const {
  const TensorView* t = Find(name);
  if (t == nullptr) return Status::NotFound(path() + ": checkpoint has no tensor '" + std::string(name) + "'");
  return t;
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
    if (numel * DTypeSize(t.dtype) != t.bytes.size()) {
      return Status::Internal("WriteSafetensors: tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
                              " bytes, shape needs " + std::to_string(numel * DTypeSize(t.dtype)));
    }
    header[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string json = header.dump();
  while (json.size() % 8 != 0) json.push_back(' ');
  return WriteFileAtomically(path, [&](std::ostream& out) {
    const uint64_t n = json.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(json.data(), static_cast<std::streamsize>(json.size()));
    for (const auto& t : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    return Status::Ok();
  });
}

}  // namespace fp4lab
