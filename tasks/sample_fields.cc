#include "tasks/sample_fields.h"

#include <algorithm>
#include <string>
#include <utility>

namespace fp4lab {
namespace {

Status FieldError(std::string_view task, const SampleRecord& sample, const char* field, const char* expected) {
  return Status::InvalidArgument(std::string(task) + ": sample '" + sample.sample_id + "': data field '" + field +
                                 "' is missing or not " + expected);
}

}  // namespace

std::string IndexedSampleId(std::string_view prefix, int64_t index) {
  return std::string(prefix) + std::to_string(index);
}

Result<std::vector<const SampleRecord*>> SamplesInIndexOrder(std::string_view task,
                                                             const std::vector<SampleRecord>& samples,
                                                             std::string_view prefix) {
  std::vector<std::pair<int64_t, const SampleRecord*>> indexed;
  indexed.reserve(samples.size());
  for (const SampleRecord& sample : samples) {
    const std::string_view id = sample.sample_id;
    const std::string_view digits = id.substr(std::min(prefix.size(), id.size()));
    const bool well_formed = id.starts_with(prefix) && !digits.empty() && digits.size() <= 18 &&
                             std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                             (digits.size() == 1 || digits[0] != '0');
    if (!well_formed) {
      return Status::InvalidArgument(std::string(task) + ": sample id '" + sample.sample_id + "' is not '" +
                                     std::string(prefix) + "<index>'");
    }
    indexed.emplace_back(std::stoll(std::string(digits)), &sample);
  }
  std::sort(indexed.begin(), indexed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const SampleRecord*> ordered;
  ordered.reserve(indexed.size());
  for (size_t i = 0; i < indexed.size(); ++i) {
    if (i > 0 && indexed[i].first == indexed[i - 1].first) {
      return Status::InvalidArgument(std::string(task) + ": sample id '" + indexed[i].second->sample_id +
                                     "' occurs twice");
    }
    ordered.push_back(indexed[i].second);
  }
  return ordered;
}

Result<double> SampleNumber(std::string_view task, const SampleRecord& sample, const char* field) {
  const auto it = sample.data.find(field);
  if (it == sample.data.end() || !it->is_number()) return FieldError(task, sample, field, "a number");
  return it->get<double>();
}

Result<std::vector<double>> SampleNumbers(std::string_view task, const SampleRecord& sample, const char* field) {
  const auto it = sample.data.find(field);
  if (it == sample.data.end() || !it->is_array()) return FieldError(task, sample, field, "an array of numbers");
  std::vector<double> values;
  values.reserve(it->size());
  for (const auto& v : *it) {
    if (!v.is_number()) return FieldError(task, sample, field, "an array of numbers");
    values.push_back(v.get<double>());
  }
  return values;
}

Result<std::vector<bool>> SampleFlags(std::string_view task, const SampleRecord& sample, const char* field) {
  const auto it = sample.data.find(field);
  if (it == sample.data.end() || !it->is_array()) return FieldError(task, sample, field, "an array of booleans");
  std::vector<bool> flags;
  flags.reserve(it->size());
  for (const auto& v : *it) {
    if (!v.is_boolean()) return FieldError(task, sample, field, "an array of booleans");
    flags.push_back(v.get<bool>());
  }
  return flags;
}

}  // namespace fp4lab
