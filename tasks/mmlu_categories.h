// MMLU's 57 subjects with Hendrycks' subcategory and category (hendrycks/test categories.py) and lm-eval's
// group (lm_eval/tasks/mmlu: mmlu_stem, mmlu_humanities, mmlu_social_sciences, mmlu_other).
// The two groupings agree on every subject except anatomy: Hendrycks files it under health -> other,
// lm-eval under stem. Reports that claim lm-eval comparability aggregate by `lm_eval_group`.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace fp4lab {

enum class MmluCategory { kStem, kHumanities, kSocialSciences, kOther };

// "stem", "humanities", "social_sciences", "other" (lm-eval's group suffixes).
std::string_view MmluCategoryName(MmluCategory category);

struct MmluSubjectInfo {
  std::string_view subject;              // "abstract_algebra"
  std::string_view subcategory;          // Hendrycks' subcategory, e.g. "math", "health", "computer science"
  MmluCategory hendrycks_category;       // Hendrycks' category of that subcategory
  MmluCategory lm_eval_group;            // lm-eval's group
};

// All 57 subjects in alphabetical order (the release's order).
std::span<const MmluSubjectInfo> AllMmluSubjects();

// NotFound "unknown MMLU subject 'x'" for names outside the 57.
Result<MmluSubjectInfo> LookupMmluSubject(std::string_view subject);

// Words of a subject as lm-eval's descriptions print them: "high_school_us_history" -> "high school us history".
std::string MmluSubjectWords(std::string_view subject);

}  // namespace fp4lab
