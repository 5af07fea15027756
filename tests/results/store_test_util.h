// Helpers shared by the result-store tests: a per-test temporary directory, file snapshots for "left
// untouched" checks, record factories and field-wise comparisons (records.h defines no operator==).
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "engine/status.h"
#include "results/records.h"

namespace fp4lab::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("fp4lab_results_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The whole content of `path` ("" when missing), to compare before/after byte for byte.
inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline RunRecord MakeRun(const std::string& plan_key, const std::string& tag = "") {
  RunRecord run;
  run.plan_key = plan_key;
  run.tag = tag;
  run.started_at = "2026-11-27T01:50:10Z";
  run.model_path = "tests/fixtures/llama_tiny_nvfp4";
  run.reference_path = "tests/fixtures/llama_tiny";
  run.device = "cpu";
  run.device_name = "CPU (x86_64)";
  run.git_sha = "0123456789ab";
  run.provenance = {{"build_type", "Release"}, {"nvfp4_path", {{"nvfp4", "emulated"}}}};
  return run;
}

inline TaskRecord MakeTask(int64_t run_id, const std::string& task, const std::string& precision) {
  TaskRecord record;
  record.run_id = run_id;
  record.task = task;
  record.precision = precision;
  record.version = "1";
  record.dataset_sha256 = "d4a1";
  record.config = {{"shots", 5}};
  return record;
}

inline SampleRecord MakeSample(int64_t run_id, const std::string& task, const std::string& precision,
                               const std::string& sample_id, double score) {
  SampleRecord sample;
  sample.run_id = run_id;
  sample.task = task;
  sample.precision = precision;
  sample.sample_id = sample_id;
  sample.score = score;
  sample.outcome = score > 0.5 ? "correct" : "wrong";
  sample.prompt_sha256 = "sha-" + sample_id;
  sample.data = {{"logprobs", {-0.5, -1.25}}};
  return sample;
}

inline MetricRecord MakeMetric(int64_t run_id, const std::string& task, const std::string& precision,
                               const std::string& metric, double value) {
  MetricRecord record;
  record.run_id = run_id;
  record.task = task;
  record.precision = precision;
  record.metric = metric;
  record.value = value;
  return record;
}

inline ComparisonRecord MakeComparison(int64_t run_id, const std::string& task, const std::string& precision,
                                       const std::string& metric, const std::string& method) {
  ComparisonRecord record;
  record.run_id = run_id;
  record.task = task;
  record.precision = precision;
  record.reference_precision = "bf16";
  record.metric = metric;
  record.method = method;
  return record;
}

inline auto Fields(const RunRecord& r) {
  return std::tie(r.id, r.plan_key, r.tag, r.status, r.started_at, r.finished_at, r.model_path, r.reference_path,
                  r.device, r.device_name, r.git_sha, r.provenance);
}
inline auto Fields(const TaskRecord& t) {
  return std::tie(t.run_id, t.task, t.precision, t.version, t.dataset_sha256, t.complete, t.config);
}
inline auto Fields(const MetricRecord& m) {
  return std::tie(m.run_id, m.task, m.precision, m.metric, m.value, m.stderr_value, m.n, m.unit, m.higher_is);
}
inline auto Fields(const ComparisonRecord& c) {
  return std::tie(c.run_id, c.task, c.precision, c.reference_precision, c.metric, c.delta, c.ci_low, c.ci_high,
                  c.p_value, c.method, c.extra);
}
inline auto Fields(const SampleRecord& s) {
  return std::tie(s.run_id, s.task, s.precision, s.sample_id, s.score, s.outcome, s.prompt_sha256, s.data,
                  s.prompt_text, s.output_text);
}
inline auto Fields(const LayerPrecisionRecord& l) {
  return std::tie(l.run_id, l.precision, l.layer, l.scheme, l.reason, l.bytes);
}

// EXPECTs that two record vectors hold the same rows in the same order.
template <typename Record>
void ExpectSameRows(const std::vector<Record>& actual, const std::vector<Record>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_EQ(Fields(actual[i]), Fields(expected[i])) << "row " << i;
}

}  // namespace fp4lab::testing

// ASSERT that a Status or Result is OK, printing its message otherwise.
#define FP4LAB_ASSERT_OK(expr)                                                              \
  do {                                                                                      \
    const auto& fp4lab_test_value = (expr);                                                 \
    const ::fp4lab::Status& fp4lab_test_status = ::fp4lab::status_internal::AsStatus(fp4lab_test_value); \
    ASSERT_TRUE(fp4lab_test_status.ok()) << fp4lab_test_status.ToString();                  \
  } while (0)
