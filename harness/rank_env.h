// Where this process sits in a multi-process run (`fp4lab run --shard auto`), read from the environment variables
// the cluster's launcher sets. fp4lab never starts processes on other machines itself: Slurm, torchrun or mpirun
// does, and each process picks its shard and its GPU from what that launcher told it.
//
// Precedence, innermost launcher first (a launcher started inside another one describes this process; the outer
// one's variables describe the outer job):
//   1. torchrun-style:  RANK, WORLD_SIZE, LOCAL_RANK (optional), LOCAL_WORLD_SIZE (optional)
//   2. Open MPI:        OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK (optional),
//                       OMPI_COMM_WORLD_LOCAL_SIZE (optional)
//   3. Slurm:           inside an srun step (SLURM_STEP_ID set): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID;
//                       a job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT, optional
//                       SLURM_ARRAY_TASK_MAX and SLURM_ARRAY_TASK_STEP) gives shard (ID - MIN) / STEP of COUNT,
//                       times the step's tasks when srun runs several per array element.
//                       In a batch script outside srun, SLURM_PROCID/SLURM_NTASKS describe the allocation, not
//                       this process, so more than one task there is refused.
// A group whose variables are only partly set, or whose values disagree (rank >= size, non-numbers), is an
// InvalidArgument naming the variables.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/status.h"

namespace fp4lab {

// Looks up one environment variable; nullopt when it is not set. Tests inject a map.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The real process environment (getenv).
EnvLookup ProcessEnvironment();

struct RankPlacement {
  int rank = 0;        // this process's shard index, 0 <= rank < world_size
  int world_size = 1;  // number of processes (shards) in the run
  std::optional<int> local_rank;  // index among the processes of this machine; picks the GPU when known
  std::string source;             // "torchrun", "openmpi", "slurm", "slurm-array"
  std::vector<std::string> variables;  // "NAME=value" of every variable read, for messages and provenance

  nlohmann::json ToJson() const;  // {rank, world_size, local_rank, source, variables}
};

// The placement the environment describes, by the precedence above. InvalidArgument when no launcher variables are
// set (naming what was looked for), or when the chosen group is partial or inconsistent.
Result<RankPlacement> DiscoverRank(const EnvLookup& env);

// The device a rank uses. "cuda" (no index) becomes "cuda:<local rank>", or "cuda:0" when CUDA_VISIBLE_DEVICES
// lists exactly one GPU (the launcher bound this process to it). Anything else ("cpu", "cuda:3") is kept.
// InvalidArgument when "cuda" needs a local rank the launcher did not set, or the local rank is not below the number
// of GPUs CUDA_VISIBLE_DEVICES lists.
Result<std::string> DeviceForRank(const std::string& device, const RankPlacement& placement, const EnvLookup& env);

// `pattern` with every "{rank}" replaced by `rank` (e.g. "shards/results-{rank}.sqlite").
std::string ExpandRank(const std::string& pattern, int rank);

}  // namespace fp4lab
