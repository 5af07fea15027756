// Reading back what a CLI test's run stored: the metrics of the newest run of a result file, or that there is none.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "results/result_store.h"

namespace fp4lab::testing {

// "task/precision/metric" -> value of every metric of the newest run in `db`; fails the test unless that run is
// complete.
inline std::map<std::string, double> MetricsOf(const std::string& db) {
  std::map<std::string, double> out;
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return out;
  auto runs = (*store)->ListRuns();
  EXPECT_TRUE(runs.ok() && !runs->empty()) << db;
  if (!runs.ok() || runs->empty()) return out;
  EXPECT_EQ(runs->back().status, RunStatus::kComplete) << db;
  auto metrics = (*store)->ListMetrics(runs->back().id);
  for (const auto& m : *metrics) out[m.task + "/" + m.precision + "/" + m.metric] = m.value;
  return out;
}

// A refused command stored no run: `db` is absent, or holds no run.
inline void ExpectNoRunStored(const std::string& db) {
  if (!std::filesystem::exists(db)) return;
  auto store = ResultStore::Open(db, OpenMode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto runs = (*store)->ListRuns();
  ASSERT_TRUE(runs.ok());
  EXPECT_TRUE(runs->empty()) << db;
}

}  // namespace fp4lab::testing
