// Test helper shared by the report tests and the gate tests (tests/results/gate_test.cc): a temporary
// directory and a builder that fills a real ResultStore with runs, metrics, comparisons, samples and layer
// maps. Metrics and comparisons are buffered per (run, task, precision) and written by Commit() through
// ResultStore::CompleteTask, the same path the runner uses.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "results/result_store.h"

namespace fp4lab::testing {

// A fresh directory under the system temp dir, removed with its content on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("fp4lab_report_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class TestStore {
 public:
  explicit TestStore(const std::string& path) {
    auto store = ResultStore::Open(path, OpenMode::kCreateOrOpen);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (store.ok()) store_ = std::move(store).value();
  }

  ResultStore& store() { return *store_; }

  // Creates a run (device, tag, provenance as given) and finishes it with `status`.
  int64_t AddRun(const std::string& tag = "", RunStatus status = RunStatus::kComplete,
                 const std::string& device_name = "CPU (x86_64)", nlohmann::json provenance = nullptr) {
    RunRecord run;
    run.plan_key = "plan-" + std::to_string(++runs_);
    run.tag = tag;
    run.started_at = "2026-11-27T01:50:10Z";
    run.model_path = "tests/fixtures/llama_tiny_nvfp4";
    run.reference_path = "tests/fixtures/llama_tiny";
    run.device = device_name.rfind("NVIDIA", 0) == 0 ? "cuda:0" : "cpu";
    run.device_name = device_name;
    run.git_sha = "0123456789ab";
    run.provenance = provenance.is_null()
                         ? nlohmann::json{{"build_type", "Release"}, {"nvfp4_path", {{"nvfp4", "emulated"}}}}
                         : provenance;
    return AddRun(run, status);
  }

  int64_t AddRun(const RunRecord& run, RunStatus status) {
    Result<int64_t> id = store_->CreateRun(run);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!id.ok()) return 0;
    if (status != RunStatus::kRunning) {
      Status finished = store_->FinishRun(*id, status, "2026-11-27T02:10:00Z");
      EXPECT_TRUE(finished.ok()) << finished.ToString();
    }
    return *id;
  }

  void Metric(int64_t run, const std::string& task, const std::string& precision, const std::string& metric,
              double value, std::optional<double> stderr_value = std::nullopt, int64_t n = 0,
              const std::string& unit = "", const std::string& higher_is = "") {
    MetricRecord m;
    m.run_id = run;
    m.task = task;
    m.precision = precision;
    m.metric = metric;
    m.value = value;
    m.stderr_value = stderr_value;
    m.n = n;
    m.unit = unit;
    m.higher_is = higher_is;
    groups_[{run, task, precision}].metrics.push_back(m);
  }

  void Comparison(int64_t run, const std::string& task, const std::string& precision, const std::string& metric,
                  double delta, double ci_low, double ci_high, nlohmann::json extra = nlohmann::json::object(),
                  std::optional<double> p_value = std::nullopt, const std::string& method = "paired_bootstrap") {
    ComparisonRecord c;
    c.run_id = run;
    c.task = task;
    c.precision = precision;
    c.reference_precision = "bf16";
    c.metric = metric;
    c.delta = delta;
    c.ci_low = ci_low;
    c.ci_high = ci_high;
    c.p_value = p_value;
    c.method = method;
    c.extra = std::move(extra);
    groups_[{run, task, precision}].comparisons.push_back(c);
  }

  // Writes the task rows, metrics and comparisons buffered so far.
  void Commit() {
    for (auto& [key, group] : groups_) {
      TaskRecord task;
      std::tie(task.run_id, task.task, task.precision) = key;
      task.version = "1";
      task.dataset_sha256 = "5eed";
      task.config = {{"convention", "lmeval"}};
      Status s = store_->CompleteTask(task, group.metrics, group.comparisons);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    groups_.clear();
  }

  void Samples(const std::vector<SampleRecord>& samples) {
    Status s = store_->WriteSamples(samples);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  void Layers(const std::vector<LayerPrecisionRecord>& layers) {
    Status s = store_->WriteLayerPrecisions(layers);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

 private:
  struct Group {
    std::vector<MetricRecord> metrics;
    std::vector<ComparisonRecord> comparisons;
  };
  std::unique_ptr<ResultStore> store_;
  std::map<std::tuple<int64_t, std::string, std::string>, Group> groups_;
  int runs_ = 0;
};

inline SampleRecord MakeSample(int64_t run, const std::string& task, const std::string& precision,
                               const std::string& sample_id, double score, const std::string& outcome,
                               nlohmann::json data = nlohmann::json::object()) {
  SampleRecord s;
  s.run_id = run;
  s.task = task;
  s.precision = precision;
  s.sample_id = sample_id;
  s.score = score;
  s.outcome = outcome;
  s.prompt_sha256 = "sha-" + sample_id;
  s.data = std::move(data);
  return s;
}

}  // namespace fp4lab::testing
