#include "harness/rank_env.h"

#include <cstdlib>
#include <sstream>

namespace fp4lab {
namespace {

// Reads the variables of one launcher and remembers which ones it saw, for messages and provenance.
class VariableReader {
 public:
  VariableReader(const EnvLookup& env, std::vector<std::string>& seen) : env_(env), seen_(seen) {}

  bool Has(const std::string& name) const { return env_(name).has_value(); }

  // The variable as a non-negative integer; nullopt when it is not set.
  Result<std::optional<int>> Optional(const std::string& name) {
    const std::optional<std::string> value = env_(name);
    if (!value) return std::optional<int>();
    seen_.push_back(name + "=" + *value);
    const std::string& text = *value;
    const bool digits = !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) {
      return Status::InvalidArgument("--shard auto: " + name + "='" + text + "' is not a non-negative integer");
    }
    return std::optional<int>(std::atoi(text.c_str()));
  }

  // InvalidArgument naming `missing` and every variable read so far.
  Status Incomplete(const std::string& missing) const {
    return Status::InvalidArgument("--shard auto: the launcher's variables are incomplete: " + missing +
                                   " is not set (set: " + Seen() + ")");
  }

  std::string Seen() const {
    std::string out;
    for (const auto& s : seen_) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

 private:
  const EnvLookup& env_;
  std::vector<std::string>& seen_;
};

Status CheckBelow(const std::string& what, int value, const std::string& bound_name, int bound,
                  const VariableReader& vars) {
  if (bound < 1) {
    return Status::InvalidArgument("--shard auto: " + bound_name + " must be at least 1 (" + vars.Seen() + ")");
  }
  if (value >= bound) {
    return Status::InvalidArgument("--shard auto: " + what + " must be below " + bound_name + " (" + vars.Seen() +
                                   ")");
  }
  return Status::Ok();
}

// RANK/WORLD_SIZE style groups (torchrun, Open MPI): rank and size required, local rank and local size optional.
Result<RankPlacement> ReadRankGroup(const EnvLookup& env, const std::string& source, const std::string& rank_name,
                                    const std::string& size_name, const std::string& local_name,
                                    const std::string& local_size_name) {
  RankPlacement p;
  p.source = source;
  VariableReader vars(env, p.variables);
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> rank, vars.Optional(rank_name));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> size, vars.Optional(size_name));
  FP4LAB_ASSIGN_OR_RETURN(p.local_rank, vars.Optional(local_name));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> local_size, vars.Optional(local_size_name));
  if (!rank) return vars.Incomplete(rank_name);
  if (!size) return vars.Incomplete(size_name);
  p.rank = *rank;
  p.world_size = *size;
  FP4LAB_RETURN_IF_ERROR(CheckBelow(rank_name, p.rank, size_name, p.world_size, vars));
  if (local_size) {
    if (!p.local_rank) return vars.Incomplete(local_name);
    FP4LAB_RETURN_IF_ERROR(CheckBelow(local_name, *p.local_rank, local_size_name, *local_size, vars));
  }
  if (p.local_rank && *p.local_rank > p.rank) {
    return Status::InvalidArgument("--shard auto: " + local_name + " cannot exceed " + rank_name + " (" +
                                   vars.Seen() + ")");
  }
  return p;
}

// Slurm: an srun step, a job array, or both (several srun tasks per array element).
Result<RankPlacement> ReadSlurm(const EnvLookup& env) {
  RankPlacement p;
  VariableReader vars(env, p.variables);
  const bool in_step = vars.Has("SLURM_STEP_ID");
  const bool in_array = vars.Has("SLURM_ARRAY_TASK_ID");
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> procid, vars.Optional("SLURM_PROCID"));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> ntasks, vars.Optional("SLURM_NTASKS"));
  FP4LAB_ASSIGN_OR_RETURN(p.local_rank, vars.Optional("SLURM_LOCALID"));
  int task = 0, tasks = 1;
  if (in_step) {
    if (!procid || !ntasks) {
      return Status::InvalidArgument("--shard auto: inside an srun step (SLURM_STEP_ID is set) both SLURM_PROCID and "
                                     "SLURM_NTASKS are needed (" + vars.Seen() + ")");
    }
    FP4LAB_RETURN_IF_ERROR(CheckBelow("SLURM_PROCID", *procid, "SLURM_NTASKS", *ntasks, vars));
    task = *procid;
    tasks = *ntasks;
  } else if (ntasks && *ntasks > 1 && !in_array) {
    return Status::InvalidArgument("--shard auto: this is a Slurm batch script outside srun, where SLURM_NTASKS=" +
                                   std::to_string(*ntasks) + " describes the allocation, not this process; start "
                                   "fp4lab with srun (docs/examples/scaleout/slurm_batch.sh) or pass --shard i/n");
  }
  p.source = "slurm";
  p.rank = task;
  p.world_size = tasks;
  if (!in_array) return p;

  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> id_opt, vars.Optional("SLURM_ARRAY_TASK_ID"));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> min_opt, vars.Optional("SLURM_ARRAY_TASK_MIN"));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> count_opt, vars.Optional("SLURM_ARRAY_TASK_COUNT"));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> max, vars.Optional("SLURM_ARRAY_TASK_MAX"));
  FP4LAB_ASSIGN_OR_RETURN(std::optional<int> step_opt, vars.Optional("SLURM_ARRAY_TASK_STEP"));
  if (!min_opt) return vars.Incomplete("SLURM_ARRAY_TASK_MIN");
  if (!count_opt) return vars.Incomplete("SLURM_ARRAY_TASK_COUNT");
  const int id = *id_opt, min = *min_opt, count = *count_opt;
  const int step = step_opt.value_or(1);
  if (step < 1 || count < 1 || id < min || (id - min) % step != 0 || (id - min) / step >= count ||
      (max && (*max < min || (*max - min) / step + 1 != count || (*max - min) % step != 0))) {
    return Status::InvalidArgument("--shard auto: the job array's indices are not an evenly spaced range holding "
                                   "SLURM_ARRAY_TASK_ID (" + vars.Seen() + "); submit it as --array=0-" +
                                   std::to_string(count > 0 ? count - 1 : 0) + " (a %limit is fine)");
  }
  p.source = in_step && tasks > 1 ? "slurm-array+srun" : "slurm-array";
  p.rank = (id - min) / step * tasks + task;
  p.world_size = count * tasks;
  if (!in_step) p.local_rank = p.local_rank.value_or(0);
  return p;
}

int CountListed(const std::string& list) {
  int n = 0;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) n += item.empty() ? 0 : 1;
  return n;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

nlohmann::json RankPlacement::ToJson() const {
  nlohmann::json j = {{"rank", rank}, {"world_size", world_size}, {"source", source}, {"variables", variables}};
  j["local_rank"] = local_rank ? nlohmann::json(*local_rank) : nlohmann::json();
  return j;
}

Result<RankPlacement> DiscoverRank(const EnvLookup& env) {
  auto any = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (env(n)) return true;
    }
    return false;
  };
  if (any({"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"})) {
    return ReadRankGroup(env, "torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE");
  }
  if (any({"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"})) {
    return ReadRankGroup(env, "openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                         "OMPI_COMM_WORLD_LOCAL_SIZE");
  }
  if (any({"SLURM_STEP_ID", "SLURM_PROCID", "SLURM_ARRAY_TASK_ID"})) return ReadSlurm(env);
  return Status::InvalidArgument(
      "--shard auto: no launcher variables found (looked for RANK/WORLD_SIZE from torchrun, OMPI_COMM_WORLD_RANK/SIZE "
      "from mpirun, SLURM_PROCID/SLURM_NTASKS from srun, SLURM_ARRAY_TASK_ID from a job array); start fp4lab "
      "through one of them or pass --shard i/n");
}

Result<std::string> DeviceForRank(const std::string& device, const RankPlacement& placement, const EnvLookup& env) {
  if (device != "cuda") return device;
  const std::optional<std::string> visible = env("CUDA_VISIBLE_DEVICES");
  const int listed = visible ? CountListed(*visible) : -1;
  if (listed == 1) return std::string("cuda:0");
  if (!placement.local_rank) {
    return Status::InvalidArgument("--device cuda with --shard auto: the " + placement.source +
                                   " variables name no local rank, so which GPU is unknown; pass --device cuda:N");
  }
  const int local = *placement.local_rank;
  if (listed >= 0 && local >= listed) {
    return Status::InvalidArgument("--device cuda with --shard auto: local rank " + std::to_string(local) +
                                   " but CUDA_VISIBLE_DEVICES='" + *visible + "' lists " + std::to_string(listed) +
                                   " GPU(s)");
  }
  return "cuda:" + std::to_string(local);
}

std::string ExpandRank(const std::string& pattern, int rank) {
  static const std::string kToken = "{rank}";
  std::string out = pattern;
  for (size_t at = out.find(kToken); at != std::string::npos; at = out.find(kToken, at)) {
    out.replace(at, kToken.size(), std::to_string(rank));
  }
  return out;
}

}  // namespace fp4lab
