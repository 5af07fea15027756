// `fp4lab launch [--gpus 0,1 | --procs N] -- <run args>`: a data-parallel run on one machine without a scheduler.
// Starts one `fp4lab run --shard i/n` per GPU (or N on the CPU), each with its own shard file and log beside --db,
// shows their progress as one view, waits, and merges the shards into --db (harness/merge.h). A failed rank is
// reported at once with the tail of its log and fails the launch (exit 3; 2 when every rank failed on bad input)
// after the other ranks finish; running the same launch again resumes every shard (a finished shard is left as it
// is). SIGINT and SIGTERM are forwarded to the ranks.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "harness/child_process.h"
#include "harness/command.h"
#include "harness/launch_ranks.h"
#include "harness/merge.h"
#include "harness/paths.h"
#include "reports/report.h"
#include "results/result_store.h"

namespace fp4lab {

namespace {

namespace fs = std::filesystem;

struct LaunchFlags {
  std::string gpus;
  int procs = 0;
  std::string db = "results.sqlite";
  std::string report = "report.html";
  std::vector<std::string> run_args;
};

volatile sig_atomic_t g_pending_signal = 0;
void RememberSignal(int signal) { g_pending_signal = signal; }

// launch sets these per rank; the same flags among the run arguments would contradict it.
Status CheckRunArgs(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    for (const char* owned : {"--shard", "--db", "--report", "--device", "--resume"}) {
      if (a == owned || a.rfind(std::string(owned) + "=", 0) == 0) {
        return Status::InvalidArgument(std::string(owned) + " after `--`: launch sets it for every rank "
                                       "(give --db and --report to launch itself; --gpus/--procs choose devices)");
      }
    }
  }
  return Status::Ok();
}

bool HoldsARun(const std::string& db) {
  std::error_code ec;
  if (!fs::exists(db, ec)) return false;
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  if (!store.ok()) return true;  // let the rank report what is wrong with it
  auto runs = (*store)->ListRuns();
  return !runs.ok() || !runs->empty();
}

std::string SelfExecutable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string("fp4lab");
}

// Starts rank `r` of `n`: `fp4lab run <run args> --shard r/n` on its device, its shard file and log beside `stem`,
// resuming the run its shard file already holds.
Status StartRank(const LaunchFlags& f, const std::string& exe, const std::string& stem, int n, LaunchRank& r) {
  const std::string name = stem + ".shard" + std::to_string(r.index) + "of" + std::to_string(n);
  r.db = name + ".sqlite";
  r.log = name + ".log";
  std::vector<std::string> argv = {exe, "run"};
  argv.insert(argv.end(), f.run_args.begin(), f.run_args.end());
  for (const std::string& a : {std::string("--shard"), std::to_string(r.index) + "/" + std::to_string(n),
                               std::string("--device"), r.device, std::string("--db"), r.db, std::string("--report"),
                               std::string()}) {
    argv.push_back(a);
  }
  if (HoldsARun(r.db)) argv.push_back("--resume");
  std::string command;
  for (const auto& a : argv) command += (command.empty() ? "" : " ") + (a.empty() ? "\"\"" : a);
  std::ofstream(r.log, std::ios::app) << "== fp4lab launch: rank " << r.index << "/" << n << ": " << command << "\n";
  std::map<std::string, std::string> env;
  if (!r.visible_gpu.empty()) env["CUDA_VISIBLE_DEVICES"] = r.visible_gpu;
  FP4LAB_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(argv, env, r.log));
  r.process = std::move(child);
  r.started = std::chrono::steady_clock::now();
  const std::string gpu = r.visible_gpu.empty() ? "" : " = GPU " + r.visible_gpu;
  std::fprintf(stderr, "rank %d/%d: pid %d, %s%s, log %s, db %s\n", r.index, n, static_cast<int>(r.process->pid()),
               r.device.c_str(), gpu.c_str(), r.log.c_str(), r.db.c_str());
  return Status::Ok();
}

// Waits until every started rank has ended, forwarding SIGINT/SIGTERM (caught into g_pending_signal) to them,
// printing a failed rank's log tail at once and the view of all ranks as it changes. Returns the signal that
// interrupted the launch, 0 if none.
int WaitForRanks(std::vector<LaunchRank>& ranks) {
  const int n = static_cast<int>(ranks.size());
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  int lines_printed = 0, interrupted_by = 0;
  auto last_view = std::chrono::steady_clock::now();
  while (true) {
    if (const int sig = g_pending_signal) {
      g_pending_signal = 0;
      interrupted_by = sig;
      for (const LaunchRank& r : ranks) {
        if (r.process) r.process->Signal(sig);
      }
    }
    bool running = false, changed = false;
    for (LaunchRank& r : ranks) {
      if (!r.process || r.exit) continue;
      r.exit = r.process->Poll();
      if (!r.exit) {
        running = true;
        continue;
      }
      changed = true;
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
      if (!r.exit->ok()) {
        lines_printed = 0;
        std::fprintf(stderr, "rank %d/%d failed (%s); last lines of %s:\n", r.index, n, r.exit->Describe().c_str(),
                     r.log.c_str());
        std::stringstream tail(TailOfFile(r.log, 15));
        for (std::string line; std::getline(tail, line);) std::fprintf(stderr, "  | %s\n", line.c_str());
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (changed || !running || now - last_view > std::chrono::seconds(tty ? 1 : 10)) {
      PrintRankView(ranks, tty, lines_printed);
      last_view = now;
    }
    if (!running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return interrupted_by;
}

Result<int> RunLaunch(const LaunchFlags& f) {
  FP4LAB_RETURN_IF_ERROR(CheckRunArgs(f.run_args));
  if (!f.gpus.empty() && f.procs > 0) return Status::InvalidArgument("pass --gpus or --procs, not both");
  if (f.procs < 0) return Status::InvalidArgument("--procs " + std::to_string(f.procs) + ": need at least 1");
  std::vector<LaunchRank> ranks;
  if (f.procs > 0) {
    for (int i = 0; i < f.procs; ++i) ranks.push_back(LaunchRank{.index = i, .device = "cpu"});
  } else {
    FP4LAB_ASSIGN_OR_RETURN(std::vector<std::string> gpus, ChooseGpus(f.gpus));
    for (size_t i = 0; i < gpus.size(); ++i) {
      ranks.push_back(LaunchRank{.index = static_cast<int>(i), .device = "cuda:0", .visible_gpu = gpus[i]});
    }
  }
  std::error_code ec;
  if (fs::exists(f.db, ec)) {
    return Status::InvalidArgument(f.db + " exists; launch merges the shards into a new file (remove it "
                                   "or pass another --db)");
  }
  const fs::path out(f.db);
  const std::string stem = (out.parent_path() / out.stem()).string();
  const int n = static_cast<int>(ranks.size());
  const std::string exe = SelfExecutable();

  struct sigaction forward = {}, old_int = {}, old_term = {};
  forward.sa_handler = RememberSignal;
  sigemptyset(&forward.sa_mask);
  ::sigaction(SIGINT, &forward, &old_int);
  ::sigaction(SIGTERM, &forward, &old_term);
  g_pending_signal = 0;

  Status spawn_error;
  for (LaunchRank& r : ranks) {
    spawn_error = StartRank(f, exe, stem, n, r);
    if (!spawn_error.ok()) break;
  }
  if (!spawn_error.ok()) g_pending_signal = SIGTERM;  // stop the ranks already started
  const int interrupted_by = WaitForRanks(ranks);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  FP4LAB_RETURN_IF_ERROR(spawn_error);
  if (interrupted_by != 0) {
    return Status::Aborted("launch interrupted by signal " + std::to_string(interrupted_by) + "; the ranks were "
                           "stopped; run the same launch again to resume every shard");
  }
  std::string failed;
  bool all_bad_input = true;
  for (const LaunchRank& r : ranks) {
    if (r.exit->ok()) {
      all_bad_input = false;
      continue;
    }
    all_bad_input = all_bad_input && r.exit->exit_code == 2;
    failed += (failed.empty() ? "" : ", ") + std::to_string(r.index) + " (" + r.exit->Describe() + ", " + r.log + ")";
  }
  if (!failed.empty()) {
    const std::string message = "rank(s) " + failed + " failed; fix the cause and run the same launch again: it "
                                "resumes every shard";
    return all_bad_input ? Status::InvalidArgument(message) : Status::Aborted(message);
  }
  std::vector<std::string> shard_dbs;
  for (const LaunchRank& r : ranks) shard_dbs.push_back(r.db);
  FP4LAB_ASSIGN_OR_RETURN(MergeOutcome merged, MergeShardFiles(shard_dbs, f.db, DataDir()));
  std::fprintf(stderr, "merged %d shards into run %lld of %s\n", merged.shards, static_cast<long long>(merged.run_id),
               f.db.c_str());
  if (!f.report.empty()) {
    ReportOptions report;
    report.db_path = f.db;
    report.run_ids = {merged.run_id};
    report.out_path = f.report;
    FP4LAB_RETURN_IF_ERROR(WriteReport(report));
  }
  std::cout << "run " << merged.run_id << " stored in " << f.db << " (" << n << " shards)";
  if (!f.report.empty()) std::cout << "; report: " << f.report;
  std::cout << "\n";
  return 0;
}

}  // namespace

Command AddLaunchCommand(CLI::App& root) {
  auto f = std::make_shared<LaunchFlags>();
  CLI::App* app = root.add_subcommand(
      "launch",
      "Run one `fp4lab run` per GPU (or per --procs on the CPU) on this machine, each on its own shard, then merge.\n"
      "Example: fp4lab launch --gpus 0,1 -- --model M --tasks mmlu,perplexity\n"
      "Shard files and logs go beside --db (results.shard0of2.sqlite, .log); running it again resumes every shard.");
  app->add_option("--gpus", f->gpus, "GPU indices to use, e.g. 0,1 (default: every visible GPU)");
  app->add_option("--procs", f->procs, "Run N processes on the CPU instead of GPUs");
  app->add_option("--db", f->db, "Merged SQLite result file (must not exist yet)")->capture_default_str();
  app->add_option("--report", f->report, "HTML report of the merged run (\"\" = none)")->capture_default_str();
  app->add_option("run_args", f->run_args, "Arguments of `fp4lab run`, after --");
  return {app, [f] { return RunLaunch(*f); }};
}

}  // namespace fp4lab
