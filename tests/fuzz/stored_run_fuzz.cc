// libFuzzer target: the stored-run reader. The input is written as a results database file and opened read-only
// the way compare / samples / report / gate open one; every run, task, sample, metric, comparison and layer row is
// read. A foreign or corrupt file must end in a Status (SQLite's own checks plus fp4lab's schema checks).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "results/result_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("fp4lab_fuzz_store_" + std::to_string(::getpid()) + ".sqlite"))
          .string();
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  auto store = fp4lab::ResultStore::Open(path, fp4lab::OpenMode::kReadOnly);
  if (!store.ok()) return 0;
  auto runs = (*store)->ListRuns();
  if (!runs.ok()) return 0;
  for (const auto& run : *runs) {
    (void)(*store)->ListTasks(run.id);
    (void)(*store)->ListSamples(run.id, "", "");
    (void)(*store)->ListMetrics(run.id);
    (void)(*store)->ListComparisons(run.id);
    (void)(*store)->ListLayerPrecisions(run.id);
  }
  return 0;
}
