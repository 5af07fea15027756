// The Jinja interpreter (engine/chat/jinja_*): every construct against Python jinja2's output for the same
// template (tests/fixtures/jinja/cases.json, written by tests/engine/jinja_cases.py in transformers' chat-template
// environment), then errors with their positions and the limits that stop hostile templates.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/chat/jinja_template.h"
#include "engine/file_util.h"
#include "test_util.h"

namespace fp4lab {
namespace {

using jinja::Template;
using testing::FixturePath;

Result<std::string> Render(const std::string& source, const nlohmann::ordered_json& variables = {},
                           const jinja::Limits& limits = {}) {
  FP4LAB_ASSIGN_OR_RETURN(Template t, Template::Parse(source, "t.jinja", limits));
  return t.Render(variables.is_null() ? nlohmann::ordered_json::object() : variables);
}

std::string ErrorOf(const std::string& source, const nlohmann::ordered_json& variables = {},
                    const jinja::Limits& limits = {}) {
  auto r = Render(source, variables, limits);
  return r.ok() ? "rendered: " + *r : r.status().message();
}

TEST(JinjaTest, EveryReferenceCaseRendersAsJinja2Does) {
  auto text = ReadFile(FixturePath("jinja/cases.json"));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const auto cases = nlohmann::ordered_json::parse(*text)["cases"];
  ASSERT_GE(cases.size(), 50u);
  for (const auto& c : cases) {
    auto rendered = Render(c["template"].get<std::string>(), c["variables"]);
    ASSERT_TRUE(rendered.ok()) << c["name"] << ": " << rendered.status().ToString();
    EXPECT_EQ(*rendered, c["rendered"].get<std::string>()) << c["name"] << ": " << c["template"];
  }
}

TEST(JinjaTest, SyntaxErrorsNameTheTemplateLineAndColumn) {
  EXPECT_EQ(ErrorOf("ok\n{% if x %}\nno end"), "t.jinja:2:4: 'if' is never closed (expected 'elif')");
  EXPECT_EQ(ErrorOf("{% endfor %}"), "t.jinja:1:4: unexpected 'endfor' (no open block it could close)");
  EXPECT_EQ(ErrorOf("{% include 'x' %}"), "t.jinja:1:4: unknown or unsupported statement 'include'");
  EXPECT_EQ(ErrorOf("{{ x | nope }}"), "t.jinja:1:8: no filter named 'nope'");
  EXPECT_EQ(ErrorOf("{% if x is nope %}{% endif %}"), "t.jinja:1:12: no test named 'nope'");
  EXPECT_EQ(ErrorOf("{{ 1 + }}"), "t.jinja:1:8: expected an expression, got '}}'");
  EXPECT_EQ(ErrorOf("{{ 'abc }}"), "t.jinja:1:4: unterminated string literal");
  EXPECT_EQ(ErrorOf("a {{ x"), "t.jinja:1:3: unterminated tag: '{{' without '}}'");
  EXPECT_EQ(ErrorOf("{# open"), "t.jinja:1:1: unterminated comment: '{#' without '#}'");
  EXPECT_EQ(ErrorOf("{% break %}"), "t.jinja:1:4: 'break' outside a for loop");
  EXPECT_EQ(ErrorOf("{{ x ? y }}"), "t.jinja:1:6: unexpected character '?'");
  EXPECT_EQ(ErrorOf("{% for x in y recursive %}{% endfor %}"), "t.jinja:1:15: recursive for loops are not supported");
}

TEST(JinjaTest, RuntimeErrorsNameThePositionOfTheFailingExpression) {
  EXPECT_EQ(ErrorOf("\n  {{ raise_exception('bad role') }}"), "t.jinja:2:6: raise_exception: bad role");
  EXPECT_EQ(ErrorOf("{{ 1 + 'a' }}"), "t.jinja:1:6: unsupported operand types for +: 'int' and 'str'");
  EXPECT_EQ(ErrorOf("{{ missing.attr }}"), "t.jinja:1:11: 'missing' is undefined (reading .attr)");
  EXPECT_EQ(ErrorOf("{{ missing() }}"), "t.jinja:1:4: 'missing' is undefined (cannot call it)");
  EXPECT_EQ(ErrorOf("{{ 1 // 0 }}"), "t.jinja:1:6: integer division or modulo by zero");
  EXPECT_EQ(ErrorOf("{{ 'a'.zfill(3) }}"), "t.jinja:1:7: str.zfill() is not supported");
  EXPECT_EQ(ErrorOf("{{ l.append(1) }}", {{"l", {1}}}),
            "t.jinja:1:5: access to attribute 'append' of 'list' object is unsafe (sandbox)");
  EXPECT_EQ(ErrorOf("{% set d = {} %}{% set d.x = 1 %}"),
            "t.jinja:1:20: cannot assign attribute on 'd': only namespace() objects take attributes");
  EXPECT_EQ(ErrorOf("{{ 'é' | upper }}"),
            "t.jinja:1:11: case mapping (upper/lower/capitalize/title) of non-ASCII text is not supported");
  EXPECT_EQ(ErrorOf("{{ x | tojson }}"), "t.jinja:1:8: tojson: Object of type undefined is not JSON serializable");
  EXPECT_EQ(ErrorOf("{{ 9223372036854775807 + 1 }}"), "t.jinja:1:24: integer overflow in +");
  EXPECT_EQ(ErrorOf("{% for a, b in [1] %}{% endfor %}"), "t.jinja:1:4: cannot unpack int into 2 names");
}

TEST(JinjaTest, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_NE(ErrorOf(deep).find("nested more than 100 levels deep"), std::string::npos);
  std::string blocks;
  for (int i = 0; i < 500; ++i) blocks += "{% if true %}";
  EXPECT_NE(ErrorOf(blocks).find("nested more than 100 levels deep"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(5000, '-') + "1").find("rendered"), std::string::npos);  // plain text is fine
  EXPECT_NE(ErrorOf("{{ " + std::string(5000, '-') + "1 }}").find("nested more than 100 levels deep"),
            std::string::npos);
}

// Loops build these trees (a + b + ..., x.a.b..., x | f | g ...), not recursion, but evaluating and freeing them
// recurses once per link: each link counts as a level. 300,000 links overflowed the 8 MiB stack when the tree was
// freed.
TEST(JinjaTest, LongOperatorAndFilterChainsAreErrorsNotStackOverflows) {
  auto chain = [](const std::string& first, const std::string& link, int links) {
    std::string source = "{{ " + first;
    for (int i = 0; i < links; ++i) source += link;
    return source + " }}";
  };
  for (const auto& [first, link] : std::vector<std::pair<std::string, std::string>>{
           {"1", " + 1"}, {"1", " * 1"}, {"'a'", " ~ 'a'"}, {"x", " or x"}, {"x", ".a"}, {"x", "[0]"},
           {"'a'", " | trim"}, {"x", " is defined"}}) {
    EXPECT_NE(ErrorOf(chain(first, link, 300000)).find("nested more than 100 levels deep"), std::string::npos)
        << first << link;
  }
  // A chain as long as a real template writes renders (the budget also counts the expression's own nesting).
  EXPECT_EQ(ErrorOf(chain("0", " + 1", 90)), "rendered: 90");
  EXPECT_EQ(ErrorOf(chain("'a'", " | trim", 90)), "rendered: a");
}

// Integers past int64 in an attribute path: stoll threw std::out_of_range through the interpreter (an abort).
TEST(JinjaTest, HugeIndexesAreUndefinedOrAnErrorNotAnAbort) {
  EXPECT_EQ(ErrorOf("{{ x.99999999999999999999 }}", {{"x", {1}}}),
            "t.jinja:1:6: integer literal out of range: 99999999999999999999");
  EXPECT_EQ(ErrorOf("{{ x | map(attribute='99999999999999999999') | first is undefined }}", {{"x", {{1}}}}),
            "rendered: True");
}

// A template can nest a value as deep as its step budget allows: freeing one 300,000 levels deep overflowed the
// 8 MiB stack in the destructors (now iterative), and repr, ==, < and tojson stop at 512 levels.
TEST(JinjaTest, ValuesNestedByALoopAreErrorsWhenWalkedAndFreedWithoutRecursion) {
  auto nested = [](int depth) {
    return "{% set ns = namespace(x=[]) %}{% for i in range(" + std::to_string(depth) +
           ") %}{% set ns.x = [ns.x] %}{% endfor %}";
  };
  EXPECT_EQ(ErrorOf(nested(300000) + "{{ ns.x | length }}"), "rendered: 1");
  for (const std::string walk : {"{{ ns.x }}", "{{ ns.x == [ns.x] }}", "{{ ns.x < [ns.x] }}", "{{ ns.x | tojson }}"}) {
    EXPECT_NE(ErrorOf(nested(1000) + walk).find("nested"), std::string::npos) << walk;
  }
  // Below the limit the walks work as before.
  EXPECT_EQ(ErrorOf(nested(3) + "{{ ns.x }} {{ ns.x == [[[[]]]] }} {{ ns.x < [[[[0]]]] }} {{ ns.x | tojson }}"),
            "rendered: [[[[]]]] True True [[[[]]]]");
}

TEST(JinjaTest, RunawayRecursionAndLoopsStopAtTheLimits) {
  EXPECT_NE(ErrorOf("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("evaluation nested more than 1000"),
            std::string::npos);
  jinja::Limits small;
  small.max_steps = 10'000;
  EXPECT_NE(ErrorOf("{% for i in range(100000) %}{{ i }}{% endfor %}", {}, small).find("exceeded 10000"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{% for i in range(10000000) %}{% endfor %}").find("range() would produce more than"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{{ 'x' * 100000000 }}").find("string repetition would exceed"), std::string::npos);
  // Nested loops multiply: each range is allowed, the product of iterations is not.
  EXPECT_NE(ErrorOf("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", {}, small)
                .find("exceeded 10000"),
            std::string::npos);
}

TEST(JinjaTest, VariablesComeFromJsonWithNullAsNoneAndAbsentAsUndefined) {
  auto r = Render("{{ a }}|{{ b is none }}|{{ c is defined }}|{{ d | tojson }}",
                  nlohmann::ordered_json::parse(R"({"a": 1, "b": null, "d": {"z": 1, "a": [true, 2.5]}})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, R"(1|True|False|{"z": 1, "a": [true, 2.5]})");
}

}  // namespace
}  // namespace fp4lab
