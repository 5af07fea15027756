#include "engine/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <zlib.h>

namespace fp4lab {

Result<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) return Status::InvalidArgument(path + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError(path + ": read failed");
  return ss.str();
}

Result<std::string> ReadGzipFile(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string compressed, ReadFile(path));
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return Status::Internal(path + ": zlib inflateInit2 failed");
  stream.next_in = reinterpret_cast<Bytef*>(compressed.data());
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  int rc = Z_OK;
  while (rc == Z_OK) {
    const size_t done = out.size();
    out.resize(done + std::max<size_t>(compressed.size() * 2, 1 << 16));
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + done);
    stream.avail_out = static_cast<uInt>(out.size() - done);
    rc = inflate(&stream, Z_NO_FLUSH);
    out.resize(out.size() - stream.avail_out);
  }
  inflateEnd(&stream);
  if (rc != Z_STREAM_END) {
    return Status::InvalidArgument(path + ": not a valid gzip file (zlib error " + std::to_string(rc) + ")");
  }
  return out;
}

Result<nlohmann::json> ReadJsonFile(const std::string& path) {
  FP4LAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(path + ": not valid JSON: " + e.what());
  }
}

Status WriteFileAtomically(const std::string& path, const std::function<Status(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError(path + ": cannot create " + tmp + ": " + std::strerror(errno));
    Status s = write(out);
    out.flush();
    if (s.ok() && !out) s = Status::IoError(path + ": write failed (disk full?)");
    if (!s.ok()) {
      out.close();
      std::remove(tmp.c_str());
      return s;
    }
  }
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status::IoError(path + ": cannot rename " + tmp + " into place: " + err);
  }
  return Status::Ok();
}

}  // namespace fp4lab
