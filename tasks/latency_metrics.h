// Metric rows of the latency tasks (tasks/latency.h, tasks/diffusion_latency.h), before the runner names their task,
// precision and run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "results/records.h"
#include "results/stats.h"

namespace fp4lab {

inline MetricRecord LatencyMetric(const std::string& name, double value, int64_t n, const char* unit,
                                  const char* higher_is, std::optional<double> stderr_value = std::nullopt) {
  MetricRecord m;
  m.metric = name;
  m.value = value;
  m.n = n;
  m.unit = unit;
  m.higher_is = higher_is;
  m.stderr_value = stderr_value;
  return m;
}

// The mean over repetitions, with stderr = sample stddev / sqrt(n) (absent for one repetition).
inline Result<MetricRecord> LatencyMeanMetric(const std::string& name, const std::vector<double>& values,
                                              const char* unit, const char* higher_is) {
  FP4LAB_ASSIGN_OR_RETURN(const double mean, Mean(values));
  std::optional<double> se;
  if (values.size() >= 2) {
    FP4LAB_ASSIGN_OR_RETURN(se, StandardError(values));
  }
  return LatencyMetric(name, mean, static_cast<int64_t>(values.size()), unit, higher_is, se);
}

}  // namespace fp4lab
