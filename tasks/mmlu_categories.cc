#include "tasks/mmlu_categories.h"

#include <algorithm>
#include <array>

namespace fp4lab {
namespace {

constexpr MmluCategory kStem = MmluCategory::kStem;
constexpr MmluCategory kHum = MmluCategory::kHumanities;
constexpr MmluCategory kSoc = MmluCategory::kSocialSciences;
constexpr MmluCategory kOther = MmluCategory::kOther;

// Hendrycks' categories: STEM = physics, chemistry, biology, computer science, math, engineering;
// humanities = history, philosophy, law; social sciences = politics, culture, economics, geography, psychology;
// other = other, business, health.
constexpr std::array<MmluSubjectInfo, 57> kSubjects = {{
    {"abstract_algebra", "math", kStem, kStem},
    {"anatomy", "health", kOther, kStem},
    {"astronomy", "physics", kStem, kStem},
    {"business_ethics", "business", kOther, kOther},
    {"clinical_knowledge", "health", kOther, kOther},
    {"college_biology", "biology", kStem, kStem},
    {"college_chemistry", "chemistry", kStem, kStem},
    {"college_computer_science", "computer science", kStem, kStem},
    {"college_mathematics", "math", kStem, kStem},
    {"college_medicine", "health", kOther, kOther},
    {"college_physics", "physics", kStem, kStem},
    {"computer_security", "computer science", kStem, kStem},
    {"conceptual_physics", "physics", kStem, kStem},
    {"econometrics", "economics", kSoc, kSoc},
    {"electrical_engineering", "engineering", kStem, kStem},
    {"elementary_mathematics", "math", kStem, kStem},
    {"formal_logic", "philosophy", kHum, kHum},
    {"global_facts", "other", kOther, kOther},
    {"high_school_biology", "biology", kStem, kStem},
    {"high_school_chemistry", "chemistry", kStem, kStem},
    {"high_school_computer_science", "computer science", kStem, kStem},
    {"high_school_european_history", "history", kHum, kHum},
    {"high_school_geography", "geography", kSoc, kSoc},
    {"high_school_government_and_politics", "politics", kSoc, kSoc},
    {"high_school_macroeconomics", "economics", kSoc, kSoc},
    {"high_school_mathematics", "math", kStem, kStem},
    {"high_school_microeconomics", "economics", kSoc, kSoc},
    {"high_school_physics", "physics", kStem, kStem},
    {"high_school_psychology", "psychology", kSoc, kSoc},
    {"high_school_statistics", "math", kStem, kStem},
    {"high_school_us_history", "history", kHum, kHum},
    {"high_school_world_history", "history", kHum, kHum},
    {"human_aging", "health", kOther, kOther},
    {"human_sexuality", "culture", kSoc, kSoc},
    {"international_law", "law", kHum, kHum},
    {"jurisprudence", "law", kHum, kHum},
    {"logical_fallacies", "philosophy", kHum, kHum},
    {"machine_learning", "computer science", kStem, kStem},
    {"management", "business", kOther, kOther},
    {"marketing", "business", kOther, kOther},
    {"medical_genetics", "health", kOther, kOther},
    {"miscellaneous", "other", kOther, kOther},
    {"moral_disputes", "philosophy", kHum, kHum},
    {"moral_scenarios", "philosophy", kHum, kHum},
    {"nutrition", "health", kOther, kOther},
    {"philosophy", "philosophy", kHum, kHum},
    {"prehistory", "history", kHum, kHum},
    {"professional_accounting", "other", kOther, kOther},
    {"professional_law", "law", kHum, kHum},
    {"professional_medicine", "health", kOther, kOther},
    {"professional_psychology", "psychology", kSoc, kSoc},
    {"public_relations", "politics", kSoc, kSoc},
    {"security_studies", "politics", kSoc, kSoc},
    {"sociology", "culture", kSoc, kSoc},
    {"us_foreign_policy", "politics", kSoc, kSoc},
    {"virology", "health", kOther, kOther},
    {"world_religions", "philosophy", kHum, kHum},
}};

}  // namespace

std::string_view MmluCategoryName(MmluCategory category) {
  switch (category) {
    case MmluCategory::kStem: return "stem";
    case MmluCategory::kHumanities: return "humanities";
    case MmluCategory::kSocialSciences: return "social_sciences";
    case MmluCategory::kOther: return "other";
  }
  return "unknown";
}

std::span<const MmluSubjectInfo> AllMmluSubjects() { return kSubjects; }

Result<MmluSubjectInfo> LookupMmluSubject(std::string_view subject) {
  const auto it = std::lower_bound(kSubjects.begin(), kSubjects.end(), subject,
                                   [](const MmluSubjectInfo& info, std::string_view s) { return info.subject < s; });
  if (it == kSubjects.end() || it->subject != subject) {
    return Status::NotFound("unknown MMLU subject '" + std::string(subject) + "' (expected one of the 57 in " +
                            "the MMLU release, e.g. 'abstract_algebra')");
  }
  return *it;
}

std::string MmluSubjectWords(std::string_view subject) {
  std::string words(subject);
  std::replace(words.begin(), words.end(), '_', ' ');
  return words;
}

}  // namespace fp4lab
