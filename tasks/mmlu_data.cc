#include "tasks/mmlu_data.h"

#include <algorithm>

#include "datasets/sha256.h"
#include "tasks/mmlu_categories.h"

namespace fp4lab {

Result<MmluData> LoadMmluData(const MmluOptions& options, std::string_view task) {
  const std::string name_of_task(task);
  FP4LAB_ASSIGN_OR_RETURN(const MmluSplit split, ParseMmluSplit(options.split));
  if (options.shots < 0) {
    return Status::InvalidArgument(name_of_task + ": shots must be >= 0, got " + std::to_string(options.shots));
  }
  if (options.limit < 0) {
    return Status::InvalidArgument(name_of_task + ": limit must be >= 0 (0 = all rows), got " +
                                   std::to_string(options.limit));
  }
  MmluData data;
  data.subject_names = options.subjects;
  if (data.subject_names.empty()) {
    FP4LAB_ASSIGN_OR_RETURN(data.subject_names, ListMmluSubjects(options.data_dir, split));
  }
  std::string manifest;
  const auto read = [&](MmluSplit which, const std::string& name) -> Result<std::vector<MmluQuestion>> {
    const std::string path = MmluSubjectPath(options.data_dir, which, name);
    FP4LAB_ASSIGN_OR_RETURN(const std::string sha, Sha256FileHex(path));
    manifest += std::string(MmluSplitName(which)) + "/" + name + "_" + std::string(MmluSplitName(which)) + ".csv " +
                sha + "\n";
    return LoadMmluSubject(options.data_dir, which, name);
  };
  const std::vector<std::string>& names = data.subject_names;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), name) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      return Status::InvalidArgument(name_of_task + ": subject '" + name + "' is listed twice");
    }
    FP4LAB_ASSIGN_OR_RETURN(const MmluSubjectInfo info, LookupMmluSubject(name));
    MmluSubjectRows subject;
    subject.name = name;
    subject.category = std::string(MmluCategoryName(info.lm_eval_group));
    FP4LAB_ASSIGN_OR_RETURN(subject.items, read(split, name));
    if (options.limit > 0 && subject.items.size() > static_cast<size_t>(options.limit)) {
      subject.items.resize(static_cast<size_t>(options.limit));
    }
    if (options.shots > 0) {
      FP4LAB_ASSIGN_OR_RETURN(subject.dev, read(MmluSplit::kDev, name));
      if (subject.dev.size() < static_cast<size_t>(options.shots)) {
        return Status::InvalidArgument(MmluSubjectPath(options.data_dir, MmluSplit::kDev, name) + ": " +
                                       std::to_string(options.shots) + " shots requested but the file has " +
                                       std::to_string(subject.dev.size()) + " rows");
      }
      subject.dev.resize(static_cast<size_t>(options.shots));
    }
    data.subjects.push_back(std::move(subject));
  }
  data.dataset_sha256 = Sha256Hex(manifest);
  return data;
}

std::string MmluItemId(std::string_view subject, size_t row) {
  return std::string(subject) + "/" + std::to_string(row);
}

}  // namespace fp4lab
