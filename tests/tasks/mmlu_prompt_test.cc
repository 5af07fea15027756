#include "tasks/mmlu_prompt.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "datasets/mmlu_csv.h"
#include "tasks/mmlu_categories.h"

namespace fp4lab {
namespace {

const std::string kMmluDir = std::string(FP4LAB_SOURCE_DIR) + "/datasets/mmlu";

struct SubjectData {
  std::vector<MmluQuestion> dev;
  std::vector<MmluQuestion> test;
};

SubjectData Load(const std::string& subject) {
  SubjectData data;
  auto dev = LoadMmluSubject(kMmluDir, MmluSplit::kDev, subject);
  auto test = LoadMmluSubject(kMmluDir, MmluSplit::kTest, subject);
  EXPECT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_TRUE(test.ok()) << test.status().ToString();
  if (dev.ok()) data.dev = std::move(dev).value();
  if (test.ok()) data.test = std::move(test).value();
  return data;
}

// Every expected context below was typed by hand from the CSV rows, following lm-eval's
// _default_template_yaml (description, "{{question.strip()}}\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:",
// target delimiter " ", fewshot delimiter "\n\n", first_n shots from dev).

// abstract_algebra test row 1: the question holds commas (quoted in the CSV).
TEST(MmluPromptTest, AbstractAlgebraZeroShot) {
  const SubjectData data = Load("abstract_algebra");
  ASSERT_FALSE(data.test.empty());
  const auto prompt = BuildMmluPrompt("abstract_algebra", data.dev, 0, data.test[0]);
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_EQ(prompt->context,
            "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
            "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
            "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:");
  EXPECT_EQ(prompt->continuations, (std::array<std::string, 4>{" A", " B", " C", " D"}));
  EXPECT_EQ(prompt->gold, 1);
}

TEST(MmluPromptTest, AbstractAlgebraFiveShot) {
  const SubjectData data = Load("abstract_algebra");
  ASSERT_EQ(data.dev.size(), 5u);
  const auto prompt = BuildMmluPrompt("abstract_algebra", data.dev, 5, data.test[0]);
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_EQ(prompt->context,
            "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
            "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\n"
            "A. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n"
            "Statement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | If H and K are "
            "subgroups of G then HK is a subgroup of G.\n"
            "A. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: B\n\n"
            "Statement 1 | Every element of a group generates a cyclic subgroup of the group. Statement 2 | The "
            "symmetric group S_10 has 10 elements.\n"
            "A. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: C\n\n"
            "Statement 1| Every function from a finite set onto itself must be one to one. Statement 2 | Every "
            "subgroup of an abelian group is abelian.\n"
            "A. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: A\n\n"
            "Find the characteristic of the ring 2Z.\n"
            "A. 0\nB. 3\nC. 12\nD. 30\nAnswer: A\n\n"
            "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
            "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:");
  EXPECT_EQ(prompt->gold, 1);
}

// world_religions keeps the release's leading spaces (stripped by question.strip()) and doubled quotes.
TEST(MmluPromptTest, WorldReligionsZeroShot) {
  const SubjectData data = Load("world_religions");
  ASSERT_FALSE(data.test.empty());
  const auto prompt = BuildMmluPrompt("world_religions", data.dev, 0, data.test[0]);
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_EQ(prompt->context,
            "The following are multiple choice questions (with answers) about world religions.\n\n"
            "What can murtis be translated as?\n"
            "A. Offerings\nB. Prayers\nC. Apparitions\nD. Idols\nAnswer:");
  EXPECT_EQ(prompt->gold, 3);
}

TEST(MmluPromptTest, WorldReligionsFiveShot) {
  const SubjectData data = Load("world_religions");
  const auto prompt = BuildMmluPrompt("world_religions", data.dev, 5, data.test[0]);
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_EQ(prompt->context,
            "The following are multiple choice questions (with answers) about world religions.\n\n"
            "What is the sign of the covenant for Jewish males?\n"
            "A. The rainbow\nB. Circumcision\nC. A son\nD. Bar mitzvah\nAnswer: B\n\n"
            "What is the Second Gem in Buddhism?\n"
            "A. The Dharma\nB. The Sangha\nC. The Buddha\nD. The Bodhisattva\nAnswer: A\n\n"
            "In which dynasty was the \"Mandate of Heaven\" developed to legitimatize the new rulers?\n"
            "A. Shang\nB. Zhou\nC. Han\nD. Xia\nAnswer: B\n\n"
            "Which Japanese government promoted a kind of national cult based on the emperor and his associations "
            "with kami?\n"
            "A. Honen\nB. Tanaka\nC. Tokugawa\nD. Meiji\nAnswer: D\n\n"
            "How can the Upanishads be characterized?\n"
            "A. Ritual texts\nB. Philosophical texts\nC. Hymns\nD. Origin stories\nAnswer: B\n\n"
            "What can murtis be translated as?\n"
            "A. Offerings\nB. Prayers\nC. Apparitions\nD. Idols\nAnswer:");
}

// college_computer_science: questions with embedded newlines, in the item and in the shots.
TEST(MmluPromptTest, CollegeComputerScienceMultiLineQuestions) {
  const SubjectData data = Load("college_computer_science");
  ASSERT_GT(data.test.size(), 7u);
  const auto zero_shot = BuildMmluPrompt("college_computer_science", data.dev, 0, data.test[7]);
  ASSERT_TRUE(zero_shot.ok()) << zero_shot.status().ToString();
  const std::string item =
      "Which of the following statements describe(s) properties of a purely segmented memory system?\n"
      "I. It divides memory into units of equal size.\n"
      "II. It permits implementation of virtual memory.\n"
      "III. It suffers from internal fragmentation.\n"
      "A. I only\nB. II only\nC. III only\nD. I and III\nAnswer:";
  EXPECT_EQ(zero_shot->context,
            "The following are multiple choice questions (with answers) about college computer science.\n\n" + item);
  EXPECT_EQ(zero_shot->gold, 1);

  const auto three_shot = BuildMmluPrompt("college_computer_science", data.dev, 3, data.test[7]);
  ASSERT_TRUE(three_shot.ok()) << three_shot.status().ToString();
  EXPECT_EQ(three_shot->context,
            "The following are multiple choice questions (with answers) about college computer science.\n\n"
            "Which of the following regular expressions is equivalent to (describes the same set of strings as) "
            "(a* + b)*(c + d)?\n"
            "A. a*(c + d)+ b(c + d)\nB. a*(c + d)* + b(c + d)*\nC. a*(c + d)+ b*(c + d)\nD. (a + b)*c +(a + b)*d\n"
            "Answer: D\n\n"
            "A certain pipelined RISC machine has 8 general-purpose registers R0, R1, . . . , R7 and supports the "
            "following operations.\n"
            "ADD Rs1, Rs2, Rd Add Rs1 to Rs2 and put the sum in Rd\n"
            "MUL Rs1, Rs2, Rd Multiply Rs1 by Rs2 and put the product in Rd\n"
            "An operation normally takes one cycle; however, an operation takes two cycles if it produces a result "
            "required by the immediately following operation in an operation sequence. Consider the expression AB + "
            "ABC + BC, where variables A, B, C are located in registers R0, R1, R2. If the contents of these three "
            "registers must not be modified, what is the minimum number of clock cycles required for an operation "
            "sequence that computes the value of AB + ABC + BC?\n"
            "A. 5\nB. 6\nC. 7\nD. 8\nAnswer: B\n\n"
            "The Singleton design pattern is used to guarantee that only a single instance of a class may be "
            "instantiated. Which of the following is (are) true of this design pattern?\n"
            "I. The Singleton class has a static factory method to provide its instance.\n"
            "II. The Singleton class can be a subclass of another class.\n"
            "III. The Singleton class has a private constructor.\n"
            "A. I only\nB. II only\nC. III only\nD. I, II, and III\nAnswer: D\n\n" +
                item);
}

TEST(MmluPromptTest, TooManyShotsIsAnError) {
  const SubjectData data = Load("abstract_algebra");
  const auto prompt = BuildMmluPrompt("abstract_algebra", data.dev, 6, data.test[0]);
  ASSERT_FALSE(prompt.ok());
  EXPECT_EQ(prompt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(prompt.status().message().find("num_fewshot 6"), std::string::npos);
  EXPECT_FALSE(BuildMmluPrompt("abstract_algebra", data.dev, -1, data.test[0]).ok());
}

TEST(MmluPromptTest, PythonStripMatchesStrIsspace) {
  EXPECT_EQ(PythonStrip("  \t\n x y \r\n"), "x y");
  EXPECT_EQ(PythonStrip("\xC2\xA0x\xE3\x80\x80"), "x");      // U+00A0 and U+3000 are str.isspace()
  EXPECT_EQ(PythonStrip("\x1Cx\x1F"), "x");                  // so are the ASCII separators U+001C..U+001F
  EXPECT_EQ(PythonStrip("\xE2\x80\x8Bx"), "\xE2\x80\x8Bx");  // U+200B ZERO WIDTH SPACE is not
  EXPECT_EQ(PythonStrip(" \n "), "");
}

// Oracle: lm-eval builds the input as (context + continuation)[-(max_length + 1):][:-1]; simulate that slice on
// token positions and count how many context tokens it leaves out.
int DroppedByLmEvalSlice(int context_tokens, int continuation_tokens, int max_length) {
  std::vector<int> all(context_tokens + continuation_tokens);
  std::iota(all.begin(), all.end(), 0);
  const int keep = std::min<int>(static_cast<int>(all.size()), max_length + 1);
  std::vector<int> input(all.end() - keep, all.end() - 1);
  return input.front();  // index of the first kept token = number of leading tokens dropped
}

TEST(MmluPromptTest, LeadingTokensToDropMatchesLmEvalSlicing) {
  for (int max_length : {1, 2, 8, 13}) {
    for (int continuation = 1; continuation <= max_length; ++continuation) {
      for (int context = 1; context <= 3 * max_length; ++context) {
        const auto drop = LeadingTokensToDrop(context, continuation, max_length);
        ASSERT_TRUE(drop.ok()) << drop.status().ToString();
        EXPECT_EQ(*drop, DroppedByLmEvalSlice(context, continuation, max_length))
            << context << " + " << continuation << " in " << max_length;
        EXPECT_LT(*drop, context);  // at least one context token survives
      }
    }
  }
  EXPECT_EQ(*LeadingTokensToDrop(7, 2, 8), 0);  // 7 + 2 - 1 = 8 inputs: fits exactly
  EXPECT_EQ(*LeadingTokensToDrop(8, 2, 8), 1);
}

TEST(MmluPromptTest, LeadingTokensToDropRejectsImpossibleFits) {
  EXPECT_FALSE(LeadingTokensToDrop(3, 9, 8).ok());  // the continuation alone exceeds the context
  EXPECT_FALSE(LeadingTokensToDrop(0, 1, 8).ok());
  EXPECT_FALSE(LeadingTokensToDrop(3, 0, 8).ok());
  EXPECT_FALSE(LeadingTokensToDrop(3, 1, 0).ok());
}

// Group sizes as listed by lm-eval's mmlu_stem / _humanities / _social_sciences / _other (19 + 13 + 12 + 13) and by
// Hendrycks' categories.py (18 + 13 + 12 + 14: anatomy counts as health -> other there).
TEST(MmluCategoriesTest, FiftySevenSubjectsWithBothGroupings) {
  const auto subjects = AllMmluSubjects();
  ASSERT_EQ(subjects.size(), 57u);
  std::map<MmluCategory, int> lm_eval, hendrycks;
  for (const MmluSubjectInfo& info : subjects) {
    ++lm_eval[info.lm_eval_group];
    ++hendrycks[info.hendrycks_category];
    if (info.subject != "anatomy") {
      EXPECT_EQ(info.lm_eval_group, info.hendrycks_category) << info.subject;
    }
  }
  EXPECT_EQ(lm_eval[MmluCategory::kStem], 19);
  EXPECT_EQ(lm_eval[MmluCategory::kHumanities], 13);
  EXPECT_EQ(lm_eval[MmluCategory::kSocialSciences], 12);
  EXPECT_EQ(lm_eval[MmluCategory::kOther], 13);
  EXPECT_EQ(hendrycks[MmluCategory::kStem], 18);
  EXPECT_EQ(hendrycks[MmluCategory::kOther], 14);
}

TEST(MmluCategoriesTest, SubjectsMatchTheBundledDevSplit) {
  const auto listed = ListMmluSubjects(kMmluDir, MmluSplit::kDev);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> known;
  for (const MmluSubjectInfo& info : AllMmluSubjects()) known.emplace_back(info.subject);
  EXPECT_EQ(known, *listed);
}

TEST(MmluCategoriesTest, LookupAndWords) {
  const auto anatomy = LookupMmluSubject("anatomy");
  ASSERT_TRUE(anatomy.ok());
  EXPECT_EQ(anatomy->subcategory, "health");
  EXPECT_EQ(anatomy->hendrycks_category, MmluCategory::kOther);
  EXPECT_EQ(anatomy->lm_eval_group, MmluCategory::kStem);
  const auto law = LookupMmluSubject("professional_law");
  ASSERT_TRUE(law.ok());
  EXPECT_EQ(law->subcategory, "law");
  EXPECT_EQ(MmluCategoryName(law->lm_eval_group), "humanities");
  const auto sexuality = LookupMmluSubject("human_sexuality");
  ASSERT_TRUE(sexuality.ok());
  EXPECT_EQ(MmluCategoryName(sexuality->lm_eval_group), "social_sciences");
  const auto missing = LookupMmluSubject("astrology");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(MmluSubjectWords("high_school_government_and_politics"), "high school government and politics");
  EXPECT_EQ(MmluDescription("us_foreign_policy"),
            "The following are multiple choice questions (with answers) about us foreign policy.\n\n");
}

}  // namespace
}  // namespace fp4lab
