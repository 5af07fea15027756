// The scale-out examples (docs/examples/scaleout/) and `fp4lab launch`, run on the CPU with 3 processes on this
// machine: each example script runs unchanged, with stand-ins for srun, mpirun and torchrun on PATH that start the
// processes with the variables the real launchers set (tests/harness/fake_launchers/), inside the environment the
// outer job would leave (a Slurm batch step around mpirun, an srun step around torchrun). After the merge, every
// metric equals the single-process run's exactly: the merged metrics are recomputed from the same stored samples.
// Bad launcher variables are refused before anything is written.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "engine/file_util.h"
#include "harness/cli_util.h"
#include "harness/run_metrics.h"
#include "results/result_store.h"
#include "test_util.h"

namespace fp4lab {
namespace {

namespace fs = std::filesystem;
using testing::FixturePath;
using testing::MetricsOf;
using testing::RunFp4lab;
using testing::RunShell;
using testing::SourcePath;
using testing::TempDir;

// Perplexity on three short stories and four MMLU questions, weight-only NVFP4 against bf16: seconds on the CPU.
std::string RunArgs() {
  return "--tasks perplexity,mmlu --precisions nvfp4-w4a16 --ctx 64 --limit 2 --mmlu-subjects "
         "abstract_algebra,world_religions --ppl-data " + FixturePath("text/three_stories.txt");
}

// The launcher variables of the environment this test runs in are removed, so only what each case sets counts.
const char kCleanEnv[] =
    "env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u LOCAL_WORLD_SIZE -u OMPI_COMM_WORLD_RANK -u OMPI_COMM_WORLD_SIZE "
    "-u OMPI_COMM_WORLD_LOCAL_RANK -u OMPI_COMM_WORLD_LOCAL_SIZE -u SLURM_STEP_ID -u SLURM_PROCID -u SLURM_NTASKS "
    "-u SLURM_LOCALID -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_MIN -u SLURM_ARRAY_TASK_MAX "
    "-u SLURM_ARRAY_TASK_COUNT -u SLURM_ARRAY_TASK_STEP -u CUDA_VISIBLE_DEVICES";

// Runs an example script from docs/examples/scaleout with the fake launchers on PATH, output under `out`.
testing::CliResult RunExample(const std::string& out, const std::string& context, const std::string& script) {
  const std::string command = std::string(kCleanEnv) + " PATH=" + SourcePath("tests/harness/fake_launchers") +
                              ":$PATH FP4LAB=" + FP4LAB_EXE + " FP4LAB_DATA_DIR=" + SourcePath("datasets") +
                              " OUT=" + out + " DEVICE=cpu RUN_ARGS='" + RunArgs() + "' " + context + " bash " +
                              SourcePath("docs/examples/scaleout/" + script);
  return RunShell(command);
}

// Each test runs in a process of its own under ctest (in parallel), so each makes its own single-process run.
class ScaleoutCli : public ::testing::Test {
 protected:
  // Every metric of the merged run in `merged_db` equals the single-process run's, made here in `dir`.
  static void ExpectSameAsSingleProcess(const std::string& dir, const std::string& merged_db) {
    const std::string single_db = dir + "/single.sqlite";
    auto r = RunFp4lab("run " + RunArgs() + " --report \"\" --db " + single_db);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto expected = MetricsOf(single_db);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(MetricsOf(merged_db), expected);
  }
  // "i/n source" of every shard merged into `db`, in shard order (source: the launcher --shard auto read).
  static std::vector<std::string> ShardsOf(const std::string& db) {
    auto store = ResultStore::Open(db, OpenMode::kReadOnly).value();
    const RunRecord run = store->ListRuns().value().back();
    std::vector<std::string> out;
    for (const auto& s : run.provenance["shards"]) {
      const std::string source = s.contains("placement") ? s["placement"]["source"].get<std::string>() : "-";
      out.push_back(s["shard"].get<std::string>() + " " + source);
    }
    return out;
  }
};

TEST_F(ScaleoutCli, SlurmBatchScriptWithSrun) {
  const std::string out = TempDir("scaleout_slurm");
  // The batch step sbatch leaves: SLURM_PROCID=0 and the allocation's SLURM_NTASKS, no step id; srun adds them.
  auto r = RunExample(out, "SLURM_JOB_ID=4242 SLURM_NTASKS=3 SLURM_PROCID=0 SLURM_LOCALID=0", "slurm_batch.sh");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ExpectSameAsSingleProcess(out, out + "/results.sqlite");
  EXPECT_EQ(ShardsOf(out + "/results.sqlite"), (std::vector<std::string>{"0/3 slurm", "1/3 slurm", "2/3 slurm"}));
  const std::string html = ReadFile(out + "/report.html").value();
  EXPECT_NE(html.find("Shards of run"), std::string::npos) << "the report shows which device ran which shard";
}

TEST_F(ScaleoutCli, SlurmJobArray) {
  const std::string out = TempDir("scaleout_array");
  // --array=5-7: three elements, each a batch step of its own; Slurm may run them at once.
  std::string elements;
  for (int id = 5; id <= 7; ++id) {
    elements += "(SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=" + std::to_string(id) + " SLURM_ARRAY_TASK_MIN=5 "
                "SLURM_ARRAY_TASK_MAX=7 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_STEP=1 SLURM_NTASKS=1 "
                "SLURM_PROCID=0 SLURM_LOCALID=0 bash " + SourcePath("docs/examples/scaleout/job_array.sh") +
                ") & pids=\"$pids $!\"; ";
  }
  const std::string command = std::string(kCleanEnv) + " FP4LAB=" + FP4LAB_EXE + " FP4LAB_DATA_DIR=" +
                              SourcePath("datasets") + " OUT=" + out + " DEVICE=cpu RUN_ARGS='" + RunArgs() +
                              "' bash -c '" + elements + "s=0; for p in $pids; do wait $p || s=1; done; exit $s'";
  auto r = RunShell(command);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The merge job the script's comment submits with --dependency=afterok.
  auto merged = RunShell(std::string("FP4LAB_DATA_DIR=") + SourcePath("datasets") + " " + FP4LAB_EXE + " merge " +
                         out + "/results.sqlite " + out + "/shards/results-*.sqlite");
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  ExpectSameAsSingleProcess(out, out + "/results.sqlite");
  EXPECT_EQ(ShardsOf(out + "/results.sqlite"),
            (std::vector<std::string>{"0/3 slurm-array", "1/3 slurm-array", "2/3 slurm-array"}));
}

TEST_F(ScaleoutCli, MpirunInsideASlurmBatchScript) {
  const std::string out = TempDir("scaleout_mpi");
  auto r = RunExample(out, "NP=3 SLURM_JOB_ID=4243 SLURM_NTASKS=3 SLURM_PROCID=0 SLURM_LOCALID=0", "mpirun.sh");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ExpectSameAsSingleProcess(out, out + "/results.sqlite");
  EXPECT_EQ(ShardsOf(out + "/results.sqlite"), (std::vector<std::string>{"0/3 openmpi", "1/3 openmpi", "2/3 openmpi"}));
}

TEST_F(ScaleoutCli, TorchrunInsideAnSrunStep) {
  const std::string out = TempDir("scaleout_torchrun");
  auto r = RunExample(out, "NPROC=3 SLURM_JOB_ID=4244 SLURM_STEP_ID=0 SLURM_NTASKS=1 SLURM_PROCID=0 SLURM_LOCALID=0",
                      "torchrun.sh");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ExpectSameAsSingleProcess(out, out + "/results.sqlite");
  EXPECT_EQ(ShardsOf(out + "/results.sqlite"),
            (std::vector<std::string>{"0/3 torchrun", "1/3 torchrun", "2/3 torchrun"}));
}

TEST_F(ScaleoutCli, LaunchThreeCpuProcessesEqualsOneProcess) {
  const std::string dir = TempDir("scaleout_launch");
  auto r = RunFp4lab("launch --procs 3 --db " + dir + "/results.sqlite --report " + dir + "/report.html -- " +
                     RunArgs());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 2/3"), std::string::npos) << r.output;
  ExpectSameAsSingleProcess(dir, dir + "/results.sqlite");
  EXPECT_EQ(ShardsOf(dir + "/results.sqlite"), (std::vector<std::string>{"0/3 -", "1/3 -", "2/3 -"}));
  EXPECT_TRUE(fs::exists(dir + "/results.shard1of3.log"));
  EXPECT_TRUE(fs::exists(dir + "/report.html"));
  // A second launch into the same file is refused before anything starts.
  auto again = RunFp4lab("launch --procs 3 --db " + dir + "/results.sqlite -- " + RunArgs());
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("exists"), std::string::npos) << again.output;
}

TEST(ShardAutoCli, BadLauncherVariablesExitTwoBeforeAnythingIsWritten) {
  const std::string dir = TempDir("scaleout_bad_env");
  struct Case {
    const char* name;
    std::string env;
    std::string db;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"no launcher", "", dir + "/r-{rank}.sqlite", {"no launcher variables"}},
      {"RANK without WORLD_SIZE", "RANK=1", dir + "/r-{rank}.sqlite", {"WORLD_SIZE is not set", "RANK=1"}},
      {"rank beyond the world", "RANK=3 WORLD_SIZE=3", dir + "/r-{rank}.sqlite", {"RANK must be below WORLD_SIZE"}},
      {"one file for every rank", "RANK=1 WORLD_SIZE=3", dir + "/shared.sqlite", {"{rank}", "shared.sqlite"}},
  };
  for (const Case& c : cases) {
    auto r = RunShell(std::string(kCleanEnv) + " " + c.env + " FP4LAB_DATA_DIR=" + SourcePath("datasets") + " " +
                      FP4LAB_EXE + " run --shard auto --report \"\" --tasks perplexity --db " + c.db);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.output;
    for (const std::string& fragment : c.fragments) {
      EXPECT_NE(r.output.find(fragment), std::string::npos) << c.name << ": " << r.output;
    }
    EXPECT_TRUE(fs::is_empty(dir)) << c.name << " wrote a file";
  }
}

int64_t StoredSamples(const std::string& db) {
  if (!fs::exists(db)) return 0;
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  if (!store.ok()) return 0;
  auto runs = (*store)->ListRuns();
  if (!runs.ok() || runs->empty()) return 0;
  auto count = (*store)->CountSamples(runs->back().id);
  return count.ok() ? *count : 0;
}

bool Complete(const std::string& db) {
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  if (!store.ok()) return false;
  auto runs = (*store)->ListRuns();
  return runs.ok() && !runs->empty() && runs->back().status == RunStatus::kComplete;
}

std::string TextOf(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : "";
}

// The pid launch reported for `rank` in its output file, 0 until it is there.
pid_t RankPid(const std::string& output_file, const std::string& rank) {
  const std::string text = TextOf(output_file);
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("rank " + rank + ": pid ([0-9]+)"))) return 0;
  return static_cast<pid_t>(std::stol(m[1]));
}

TEST(LaunchCli, RankKilledMidRunIsResumedByRelaunching) {
  const std::string dir = TempDir("scaleout_launch_kill");
  // 40 documents of the bundled text: a rank stores its first batch of 16 well before it finishes.
  const std::string run_args = "--tasks perplexity --precisions nvfp4-w4a16 --calib \"\"";
  auto single = RunFp4lab("run " + run_args + " --report \"\" --db " + dir + "/single.sqlite");
  ASSERT_EQ(single.exit_code, 0) << single.output;

  const std::string launch = std::string("FP4LAB_DATA_DIR=") + SourcePath("datasets") + " " + FP4LAB_EXE +
                             " launch --procs 2 --report \"\" --db " + dir + "/results.sqlite -- " + run_args;
  const std::string output = dir + "/launch1.out";
  const pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    ::execl("/bin/sh", "sh", "-c", (launch + " > " + output + " 2>&1").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::string shard1 = dir + "/results.shard1of2.sqlite";
  bool killed_mid_run = false;
  for (int i = 0; i < 3000 && !killed_mid_run; ++i) {  // up to 60 s
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const pid_t rank1 = RankPid(output, "1/2");
    if (rank1 > 0 && StoredSamples(shard1) > 0) {
      ASSERT_FALSE(Complete(shard1)) << "rank 1 finished before it could be killed";
      ::kill(rank1, SIGKILL);
      killed_mid_run = true;
    }
  }
  int status = 0;
  ::waitpid(launcher, &status, 0);
  ASSERT_TRUE(killed_mid_run) << TextOf(output);
  const std::string first = TextOf(output);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << first;
  EXPECT_NE(first.find("rank 1/2 failed (killed by signal 9"), std::string::npos) << first;
  EXPECT_FALSE(fs::exists(dir + "/results.sqlite")) << "nothing merged from a failed launch";

  auto relaunch = RunShell(launch);
  ASSERT_EQ(relaunch.exit_code, 0) << relaunch.output;
  EXPECT_NE(TextOf(dir + "/results.shard1of2.log").find("resuming run"), std::string::npos);
  EXPECT_EQ(MetricsOf(dir + "/results.sqlite"), MetricsOf(dir + "/single.sqlite"));
}

}  // namespace
}  // namespace fp4lab
