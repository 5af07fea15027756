#include "harness/merge.h"

#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>

#include "harness/runner.h"
#include "harness/shard_set.h"
#include "results/run_copy.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;

// Removes a SQLite file and its side files unless released.
class TemporaryDatabase {
 public:
  explicit TemporaryDatabase(std::string path) : path_(std::move(path)) {}
  ~TemporaryDatabase() {
    if (path_.empty()) return;
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path_ + suffix, ec);
  }
  TemporaryDatabase(const TemporaryDatabase&) = delete;
  TemporaryDatabase& operator=(const TemporaryDatabase&) = delete;
  const std::string& path() const { return path_; }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

nlohmann::json ShardEntry(const ShardFile& f) {
  const nlohmann::json& p = f.run.provenance;
  nlohmann::json entry = {{"shard", std::to_string(f.shard.index) + "/" + std::to_string(f.shard.count)},
                          {"file", f.path},
                          {"run_id", f.run.id},
                          {"host", p.value("host", "")},
                          {"device", f.run.device},
                          {"device_name", f.run.device_name},
                          {"started_at", f.run.started_at},
                          {"finished_at", f.run.finished_at},
                          {"samples", f.samples}};
  for (const char* key : {"placement", "cuda_visible_devices", "timing"}) {
    if (p.contains(key)) entry[key] = p[key];
  }
  const nlohmann::json engines = p.value("engines", nlohmann::json::object());
  for (auto it = engines.begin(); it != engines.end(); ++it) {
    if (it->is_object() && it->contains("device")) entry["device_facts"][it.key()] = (*it)["device"];
  }
  return entry;
}

// The first shard's provenance, made to describe the merged run.
nlohmann::json MergedProvenance(const std::vector<ShardFile>& shards) {
  nlohmann::json p = shards.front().run.provenance;
  for (const char* key : {"placement", "cuda_visible_devices", "timing"}) p.erase(key);
  p["plan"]["shard"] = "0/1";
  p["shards"] = nlohmann::json::array();
  for (const ShardFile& f : shards) p["shards"].push_back(ShardEntry(f));
  return p;
}

Status BuildMergedRun(const std::vector<ShardFile>& shards, const std::string& path, const std::string& data_dir,
                      int64_t& run_id) {
  {
    FP4LAB_ASSIGN_OR_RETURN(auto out, ResultStore::Open(path, OpenMode::kCreateOrOpen));
    FP4LAB_ASSIGN_OR_RETURN(run_id, CopyRunInto(*shards[0].store, shards[0].run.id, *out));
    for (size_t i = 1; i < shards.size(); ++i) {
      FP4LAB_RETURN_IF_ERROR(
          AppendRunInto(*shards[i].store, shards[i].run.id, *out, run_id).WithContext(shards[i].path));
    }
    FP4LAB_RETURN_IF_ERROR(out->UpdateRunProvenance(run_id, MergedProvenance(shards)));
  }
  FP4LAB_RETURN_IF_ERROR(RecomputeRunMetrics(path, run_id, data_dir));
  std::string finished;
  for (const ShardFile& f : shards) finished = std::max(finished, f.run.finished_at);
  FP4LAB_ASSIGN_OR_RETURN(auto done, ResultStore::Open(path, OpenMode::kReadWrite));
  return done->FinishRun(run_id, RunStatus::kComplete, finished);
}

// Renames `from` to `to` unless `to` exists (someone else's file is never overwritten). Filesystems without
// RENAME_NOREPLACE (NFS, where shard folders often live) get a hard link, which fails the same way on an existing
// `to`, and then lose `from`.
Status MoveWithoutReplacing(const std::string& from, const std::string& to) {
  int rc = ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
    rc = ::link(from.c_str(), to.c_str());
    if (rc == 0) ::unlink(from.c_str());
  }
  if (rc == 0) return Status::Ok();
  const int err = errno;
  if (err == EEXIST) return Status::InvalidArgument(to + " appeared while merging; not overwritten");
  return Status::IoError("cannot rename " + from + " to " + to + ": " + std::strerror(err));
}

}  // namespace

Result<MergeOutcome> MergeShardFiles(const std::vector<std::string>& inputs, const std::string& out,
                                     const std::string& data_dir) {
  FP4LAB_ASSIGN_OR_RETURN(std::vector<ShardFile> shards, OpenShardSet(inputs));
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec))) {
    return Status::InvalidArgument(out + " exists; merge writes a new file (remove it or name another)");
  }
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    return Status::InvalidArgument(out + ": folder " + parent.string() + " does not exist");
  }
  TemporaryDatabase tmp(out + ".tmp." + std::to_string(::getpid()));
  MergeOutcome outcome;
  outcome.shards = static_cast<int>(shards.size());
  FP4LAB_RETURN_IF_ERROR(BuildMergedRun(shards, tmp.path(), data_dir, outcome.run_id));
  shards.clear();  // close the inputs
  if (fs::exists(tmp.path() + "-wal", ec)) {
    return Status::Internal(tmp.path() + "-wal was left behind after closing; not renaming");
  }
  FP4LAB_RETURN_IF_ERROR(MoveWithoutReplacing(tmp.path(), out));
  tmp.Release();
  return outcome;
}

}  // namespace fp4lab
