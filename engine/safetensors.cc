#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
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
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound(path + ": no such file");
      return Status::IoError(path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return Status::IoError(path + ": cannot stat: " + std::strerror(errno));
    }
    auto mapped = std::unique_ptr<MappedFile>(new MappedFile());
    mapped->size_ = static_cast<size_t>(st.st_size);
    if (mapped->size_ > 0) {
      void* p = ::mmap(nullptr, mapped->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        return Status::IoError(path + ": cannot mmap: " + std::strerror(errno));
      }
      mapped->data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
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
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data.begin() + 8, data.begin() + 8 + static_cast<ptrdiff_t>(header_len));
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(file + ": header is not valid JSON: " + e.what());
  }
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
    uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return Status::InvalidArgument(where + ": shape entries must be non-negative integers");
      }
      view.shape.push_back(d.get<int64_t>());
      numel *= static_cast<uint64_t>(d.get<int64_t>());
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
    const uint64_t expected = numel * DTypeSize(*dtype);
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
  if (fs::exists(dir / "model.safetensors")) {
    FP4LAB_RETURN_IF_ERROR(reader->AddFile((dir / "model.safetensors").string()));
  } else if (fs::exists(index_path)) {
    FP4LAB_ASSIGN_OR_RETURN(nlohmann::json index, ReadJsonFile(index_path.string()));
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
      return Status::InvalidArgument(index_path.string() + ": expected an object field 'weight_map'");
    }
    std::vector<std::string> shards;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return Status::InvalidArgument(index_path.string() + ": weight_map['" + it.key() + "'] must be a file name");
      }
      const std::string shard = it.value().get<std::string>();
      if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
    }
    std::sort(shards.begin(), shards.end());
    for (const auto& shard : shards) FP4LAB_RETURN_IF_ERROR(reader->AddFile((dir / shard).string()));
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!reader->Find(it.key())) {
        return Status::InvalidArgument(index_path.string() + ": tensor '" + it.key() + "' is listed in " +
                                       it.value().get<std::string>() + " but that file does not hold it");
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
