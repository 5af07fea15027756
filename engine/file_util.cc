#include "engine/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>
#include <vector>

#include <zlib.h>

namespace fp4lab {

OpenedFile::OpenedFile(OpenedFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}

OpenedFile& OpenedFile::operator=(OpenedFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
  }
  return *this;
}

OpenedFile::~OpenedFile() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// Empty when `st` is a regular file, else what it is ("a directory", "a FIFO", ...).
std::string NotARegularFile(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return "";
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
  return "not a regular file";
}

Status StatError(const std::string& path, int err) {
  if (err == ENOENT || err == ENOTDIR) return Status::NotFound(path + ": no such file");
  if (err == ELOOP) return Status::InvalidArgument(path + ": is a symlink loop, expected a file");
  if (err == ENAMETOOLONG) return Status::InvalidArgument(path + ": path too long");
  return Status::IoError(path + ": cannot open: " + std::strerror(err));
}

}  // namespace

Result<OpenedFile> OpenRegularFile(const std::string& path, uint64_t max_bytes) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return StatError(path, errno);
  if (std::string what = NotARegularFile(st); !what.empty()) {
    return Status::InvalidArgument(path + ": is " + what + ", expected a file");
  }
  // O_NONBLOCK: should the path become a FIFO after the stat, open() returns at once instead of waiting for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return StatError(path, errno);
  OpenedFile opened(fd, 0);  // closes fd on every early return below
  if (::fstat(fd, &st) != 0) return Status::IoError(path + ": cannot stat: " + std::strerror(errno));
  if (std::string what = NotARegularFile(st); !what.empty()) {
    return Status::InvalidArgument(path + ": is " + what + ", expected a file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(size) + " bytes, more than the " +
                                   std::to_string(max_bytes) + "-byte limit for this file");
  }
  return OpenedFile(opened.Release(), size);
}

bool HasDirectoryEntry(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) return true;
  return errno != ENOENT && errno != ENOTDIR;
}

Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) {
  FP4LAB_ASSIGN_OR_RETURN(OpenedFile file, OpenRegularFile(path, max_bytes));
  std::string out;
  out.reserve(file.size());
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(path + ": read failed: " + std::strerror(errno));
    if (n == 0) break;
    if (out.size() + static_cast<uint64_t>(n) > max_bytes) {
      return Status::InvalidArgument(path + ": grew past the " + std::to_string(max_bytes) + "-byte limit while read");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {

// Thrown from the parser callback to stop a parse; carries the message.
struct JsonRejected {
  std::string message;
};

// ParseJsonBounded for either of nlohmann's object types (json sorts keys, ordered_json keeps their order).
template <class Json>
Result<Json> ParseBounded(std::string_view text, const std::string& where) {
  using Event = typename Json::parse_event_t;
  std::vector<std::set<std::string>> keys_of_open_objects;
  auto check = [&](int depth, Event event, Json& parsed) {
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        // `depth` counts the containers around this one; the outermost value is depth 0.
        if (depth >= kMaxJsonDepth) {
          throw JsonRejected{"JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
        }
        if (event == Event::object_start) keys_of_open_objects.emplace_back();
        break;
      case Event::object_end: keys_of_open_objects.pop_back(); break;
      case Event::key:
        if (!keys_of_open_objects.back().insert(parsed.template get<std::string>()).second) {
          throw JsonRejected{"duplicate key '" + parsed.template get<std::string>() + "'"};
        }
        break;
      default: break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), check);
  } catch (const JsonRejected& e) {
    return Status::InvalidArgument(where + ": " + e.message);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(where + ": not valid JSON: " + e.what());
  }
}

}  // namespace

Result<nlohmann::json> ParseJsonBounded(std::string_view text, const std::string& where) {
  return ParseBounded<nlohmann::json>(text, where);
}

Result<nlohmann::ordered_json> ParseOrderedJsonBounded(std::string_view text, const std::string& where) {
  return ParseBounded<nlohmann::ordered_json>(text, where);
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
  return ParseJsonBounded(text, path);
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
