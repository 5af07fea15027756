// Reading stored SampleRecords back for Aggregate/Compare: indexed sample ids ("doc7", "chunk12") in index order
// and typed fields of SampleRecord::data. Every error is InvalidArgument naming the task, the sample id and the
// field, so a corrupted or foreign row in the result store is reported instead of silently mis-scored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "results/records.h"

namespace fp4lab {

// "<prefix><i>" for a non-negative decimal i without leading zeros.
std::string IndexedSampleId(std::string_view prefix, int64_t index);

// The samples sorted by the index in their id "<prefix><i>", so sums over them do not depend on the order the
// store returned them in. InvalidArgument for an id of another form or a duplicate id. Pointers into `samples`.
Result<std::vector<const SampleRecord*>> SamplesInIndexOrder(std::string_view task,
                                                             const std::vector<SampleRecord>& samples,
                                                             std::string_view prefix);

// data[field] as a number / as an array of numbers / as an array of booleans.
Result<double> SampleNumber(std::string_view task, const SampleRecord& sample, const char* field);
Result<std::vector<double>> SampleNumbers(std::string_view task, const SampleRecord& sample, const char* field);
Result<std::vector<bool>> SampleFlags(std::string_view task, const SampleRecord& sample, const char* field);

}  // namespace fp4lab
