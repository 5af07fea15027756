// Rank discovery for `fp4lab run --shard auto` with injected environments: each launcher's variables, the
// precedence between launchers nested in one another, and partial or inconsistent variables refused by name.
#include "harness/rank_env.h"

#include <map>

#include <gtest/gtest.h>

namespace fp4lab {
namespace {

using Env = std::map<std::string, std::string>;

EnvLookup Lookup(const Env& env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

RankPlacement Discover(const Env& env) {
  auto placement = DiscoverRank(Lookup(env));
  EXPECT_TRUE(placement.ok()) << placement.status().ToString();
  return placement.ok() ? *placement : RankPlacement{};
}

// The error message of a refused environment ("" when it was accepted).
std::string Refusal(const Env& env) {
  auto placement = DiscoverRank(Lookup(env));
  if (placement.ok()) return "";
  EXPECT_EQ(placement.status().code(), StatusCode::kInvalidArgument);
  return placement.status().message();
}

TEST(RankEnvTest, TorchrunVariables) {
  const RankPlacement p =
      Discover({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"}});
  EXPECT_EQ(p.rank, 5);
  EXPECT_EQ(p.world_size, 8);
  EXPECT_EQ(p.local_rank, 1);
  EXPECT_EQ(p.source, "torchrun");
}

TEST(RankEnvTest, OpenMpiVariables) {
  const RankPlacement p = Discover({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "3"},
                                    {"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"}});
  EXPECT_EQ(p.rank, 2);
  EXPECT_EQ(p.world_size, 3);
  EXPECT_EQ(p.local_rank, 2);
  EXPECT_EQ(p.source, "openmpi");
}

TEST(RankEnvTest, SlurmStepVariables) {
  const RankPlacement p = Discover({{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "6"}, {"SLURM_NTASKS", "8"},
                                    {"SLURM_LOCALID", "2"}});
  EXPECT_EQ(p.rank, 6);
  EXPECT_EQ(p.world_size, 8);
  EXPECT_EQ(p.local_rank, 2);
  EXPECT_EQ(p.source, "slurm");
}

TEST(RankEnvTest, SlurmJobArrayCountsFromItsMinimum) {
  // --array=10-13: element 12 is shard 2 of 4, wherever the indices start.
  const RankPlacement p = Discover({{"SLURM_ARRAY_TASK_ID", "12"}, {"SLURM_ARRAY_TASK_MIN", "10"},
                                    {"SLURM_ARRAY_TASK_MAX", "13"}, {"SLURM_ARRAY_TASK_COUNT", "4"},
                                    {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"SLURM_LOCALID", "0"}});
  EXPECT_EQ(p.rank, 2);
  EXPECT_EQ(p.world_size, 4);
  EXPECT_EQ(p.local_rank, 0);
  // --array=0-6:2 (0, 2, 4, 6): element 4 is shard 2 of 4.
  const RankPlacement stepped = Discover({{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_MIN", "0"},
                                          {"SLURM_ARRAY_TASK_MAX", "6"}, {"SLURM_ARRAY_TASK_STEP", "2"},
                                          {"SLURM_ARRAY_TASK_COUNT", "4"}});
  EXPECT_EQ(stepped.rank, 2);
  EXPECT_EQ(stepped.world_size, 4);
}

TEST(RankEnvTest, SlurmJobArrayWithSeveralTasksPerElement) {
  // Element 1 of 2, srun task 3 of 4 in it: shard 1 * 4 + 3 = 7 of 8.
  const RankPlacement p = Discover({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "0"},
                                    {"SLURM_ARRAY_TASK_COUNT", "2"}, {"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "3"},
                                    {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "3"}});
  EXPECT_EQ(p.rank, 7);
  EXPECT_EQ(p.world_size, 8);
  EXPECT_EQ(p.local_rank, 3);
}

TEST(RankEnvTest, InnermostLauncherWins) {
  // torchrun started by srun (one task per node): torchrun's worker variables describe this process.
  const Env slurm_step = {{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}};
  Env torchrun = slurm_step;
  torchrun.insert({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}});
  EXPECT_EQ(Discover(torchrun).source, "torchrun");
  EXPECT_EQ(Discover(torchrun).rank, 5);
  // mpirun inside a batch script: the batch step's SLURM_NTASKS=4 would be refused alone, mpirun's variables win.
  const Env mpi = {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"OMPI_COMM_WORLD_RANK", "3"},
                   {"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "3"}};
  EXPECT_EQ(Discover(mpi).source, "openmpi");
  EXPECT_EQ(Discover(mpi).rank, 3);
}

TEST(RankEnvTest, PartialOrInconsistentVariablesAreRefusedByName) {
  struct Case {
    const char* name;
    Env env;
    std::vector<std::string> fragments;  // each must appear in the message
  };
  const std::vector<Case> cases = {
      {"no launcher", {}, {"no launcher variables", "--shard i/n"}},
      {"RANK without WORLD_SIZE", {{"RANK", "1"}}, {"WORLD_SIZE", "RANK=1"}},
      {"WORLD_SIZE without RANK", {{"WORLD_SIZE", "2"}}, {"RANK is not", "WORLD_SIZE=2"}},
      {"rank not below size", {{"RANK", "2"}, {"WORLD_SIZE", "2"}}, {"RANK must be below WORLD_SIZE"}},
      {"zero world", {{"RANK", "0"}, {"WORLD_SIZE", "0"}}, {"WORLD_SIZE must be at least 1"}},
      {"not a number", {{"RANK", "one"}, {"WORLD_SIZE", "2"}}, {"RANK='one'"}},
      {"negative", {{"RANK", "-1"}, {"WORLD_SIZE", "2"}}, {"RANK='-1'"}},
      {"local rank beyond local size",
       {{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}},
       {"LOCAL_RANK must be below LOCAL_WORLD_SIZE"}},
      {"MPI size missing", {{"OMPI_COMM_WORLD_RANK", "0"}}, {"OMPI_COMM_WORLD_SIZE"}},
      {"srun step without SLURM_NTASKS", {{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "0"}}, {"SLURM_NTASKS"}},
      {"SLURM_PROCID beyond SLURM_NTASKS", {{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}},
       {"SLURM_PROCID must be below SLURM_NTASKS"}},
      {"batch script outside srun", {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}}, {"outside srun", "SLURM_NTASKS=4"}},
      {"array without its minimum", {{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "4"}},
       {"SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_ID=3"}},
      {"array index list with gaps",
       {{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "7"},
        {"SLURM_ARRAY_TASK_COUNT", "3"}},
       {"evenly spaced range", "SLURM_ARRAY_TASK_MAX=7"}},
  };
  for (const Case& c : cases) {
    const std::string message = Refusal(c.env);
    EXPECT_FALSE(message.empty()) << c.name << " was accepted";
    for (const std::string& fragment : c.fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << c.name << ": " << message;
    }
  }
}

TEST(RankEnvTest, DeviceForRank) {
  RankPlacement p;
  p.source = "torchrun";
  p.local_rank = 2;
  auto device = [&](const std::string& flag, const Env& env) {
    auto d = DeviceForRank(flag, p, Lookup(env));
    return d.ok() ? *d : "error: " + d.status().message();
  };
  EXPECT_EQ(device("cuda", {}), "cuda:2");
  EXPECT_EQ(device("cuda", {{"CUDA_VISIBLE_DEVICES", "0,1,2,3"}}), "cuda:2");
  EXPECT_EQ(device("cuda", {{"CUDA_VISIBLE_DEVICES", "5"}}), "cuda:0");  // bound to one GPU by the launcher
  EXPECT_EQ(device("cpu", {}), "cpu");
  EXPECT_EQ(device("cuda:1", {}), "cuda:1");
  EXPECT_NE(device("cuda", {{"CUDA_VISIBLE_DEVICES", "0,1"}}).find("lists 2 GPU(s)"), std::string::npos);
  p.local_rank.reset();
  EXPECT_NE(device("cuda", {}).find("no local rank"), std::string::npos);
  EXPECT_EQ(device("cpu", {}), "cpu");
}

TEST(RankEnvTest, ExpandRank) {
  EXPECT_EQ(ExpandRank("shards/results-{rank}.sqlite", 3), "shards/results-3.sqlite");
  EXPECT_EQ(ExpandRank("{rank}/{rank}.db", 12), "12/12.db");
  EXPECT_EQ(ExpandRank("results.sqlite", 1), "results.sqlite");
}

}  // namespace
}  // namespace fp4lab
