#include "engine/chat/jinja_parser.h"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <string_view>

#include "engine/chat/jinja_filters.h"

namespace fp4lab::jinja {

namespace {

std::string Describe(const Token& t) {
  switch (t.type) {
    case TokenType::kText: return "template text";
    case TokenType::kPrintBegin: return "'{{'";
    case TokenType::kPrintEnd: return "'}}'";
    case TokenType::kBlockBegin: return "'{%'";
    case TokenType::kBlockEnd: return "'%}'";
    case TokenType::kString: return "string literal";
    case TokenType::kEnd: return "end of template";
    default: return "'" + t.value + "'";
  }
}

ExprPtr MakeExpr(ExprKind kind, SourcePos pos) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->pos = pos;
  return e;
}

NodePtr MakeNode(NodeKind kind, SourcePos pos) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->pos = pos;
  return n;
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const Limits& limits) : tokens_(tokens), limits_(limits) {}

  Body ParseTemplate() {
    std::string end_tag;
    return ParseBody({}, "", {}, &end_tag);
  }

 private:
  // Counts nesting (blocks and sub-expressions) so a hostile template cannot overflow the stack.
  void EnterLevel() {
    if (++depth_ > limits_.max_parse_depth) {
      FailAt(Peek().pos, "nested more than " + std::to_string(limits_.max_parse_depth) + " levels deep");
    }
  }
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& p) : p_(p) { p_.EnterLevel(); }
    ~DepthGuard() { --p_.depth_; }

   private:
    Parser& p_;
  };
  // A chain built by a loop (a + b + c, x.y[0](z), x | f | g) is a tree as deep as the chain is long, and the
  // evaluator and the tree's destructor recurse along it: each link counts as one level of nesting, from the link
  // to the end of the expression that holds the chain.
  class ChainGuard {
   public:
    explicit ChainGuard(Parser& p) : p_(p) {}
    void AddLink() {
      ++links_;
      p_.EnterLevel();
    }
    ~ChainGuard() { p_.depth_ -= links_; }

   private:
    Parser& p_;
    int links_ = 0;
  };

  const Token& Peek(size_t ahead = 0) const { return tokens_[std::min(index_ + ahead, tokens_.size() - 1)]; }
  const Token& Next() {
    const Token& t = Peek();
    if (index_ < tokens_.size() - 1) ++index_;
    return t;
  }
  bool IsOperator(const char* op, size_t ahead = 0) const {
    return Peek(ahead).type == TokenType::kOperator && Peek(ahead).value == op;
  }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).type == TokenType::kName && Peek(ahead).value == name;
  }
  bool SkipOperator(const char* op) {
    if (!IsOperator(op)) return false;
    Next();
    return true;
  }
  bool SkipName(const char* name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  [[noreturn]] void Unexpected(const std::string& expected) const {
    FailAt(Peek().pos, "expected " + expected + ", got " + Describe(Peek()));
  }
  void ExpectOperator(const char* op) {
    if (!SkipOperator(op)) Unexpected(std::string("'") + op + "'");
  }
  void ExpectName(const char* name) {
    if (!SkipName(name)) Unexpected(std::string("'") + name + "'");
  }
  void ExpectBlockEnd() {
    if (Peek().type != TokenType::kBlockEnd) Unexpected("'%}'");
    Next();
  }
  std::string ExpectIdentifier() {
    if (Peek().type != TokenType::kName) Unexpected("a name");
    return Next().value;
  }

  // Statements up to one of `end_tags` (consumed, its name stored in *end_tag). `opener` names the block for the
  // message when the template ends first.
  Body ParseBody(std::initializer_list<std::string_view> end_tags, const std::string& opener, SourcePos opener_pos,
                 std::string* end_tag) {
    Body body;
    while (true) {
      const Token& t = Peek();
      if (t.type == TokenType::kEnd) {
        if (end_tags.size() == 0) return body;
        FailAt(opener_pos, "'" + opener + "' is never closed (expected '" + std::string(*end_tags.begin()) + "')");
      }
      if (t.type == TokenType::kText) {
        auto node = MakeNode(NodeKind::kText, t.pos);
        node->text = Next().value;
        body.push_back(std::move(node));
      } else if (t.type == TokenType::kPrintBegin) {
        auto node = MakeNode(NodeKind::kPrint, Next().pos);
        node->expr = ParseTuple(true);
        if (Peek().type != TokenType::kPrintEnd) Unexpected("'}}'");
        Next();
        body.push_back(std::move(node));
      } else if (t.type == TokenType::kBlockBegin) {
        const Token& name = Peek(1);
        if (name.type == TokenType::kName &&
            std::find(end_tags.begin(), end_tags.end(), std::string_view(name.value)) != end_tags.end()) {
          Next();
          *end_tag = Next().value;
          return body;
        }
        body.push_back(ParseStatement());
      } else {
        Unexpected("template text, '{{' or '{%'");
      }
    }
  }

  NodePtr ParseStatement() {
    DepthGuard guard(*this);
    Next();  // {%
    const Token& keyword = Peek();
    if (keyword.type != TokenType::kName) Unexpected("a statement name");
    const std::string& k = keyword.value;
    if (k == "if") return ParseIf();
    if (k == "for") return ParseFor();
    if (k == "set") return ParseSet();
    if (k == "macro") return ParseMacro();
    if (k == "call") return ParseCallBlock();
    if (k == "generation") {
      auto node = MakeNode(NodeKind::kGeneration, Next().pos);
      ExpectBlockEnd();
      std::string end;
      node->body = ParseBody({"endgeneration"}, "generation", node->pos, &end);
      ExpectBlockEnd();
      return node;
    }
    if (k == "break" || k == "continue") {
      if (loop_depth_ == 0) FailAt(keyword.pos, "'" + k + "' outside a for loop");
      auto node = MakeNode(k == "break" ? NodeKind::kBreak : NodeKind::kContinue, Next().pos);
      ExpectBlockEnd();
      return node;
    }
    static const char* const kEndTags[] = {"endif", "elif", "else", "endfor", "endset", "endmacro", "endcall",
                                           "endgeneration"};
    for (const char* end : kEndTags) {
      if (k == end) FailAt(keyword.pos, "unexpected '" + k + "' (no open block it could close)");
    }
    FailAt(keyword.pos, "unknown or unsupported statement '" + k + "'");
  }

  NodePtr ParseIf() {
    auto node = MakeNode(NodeKind::kIf, Next().pos);
    ExprPtr condition = ParseTuple(false);
    while (true) {
      ExpectBlockEnd();
      std::string end;
      Body body = ParseBody({"elif", "else", "endif"}, "if", node->pos, &end);
      node->branches.emplace_back(std::move(condition), std::move(body));
      if (end == "elif") {
        condition = ParseTuple(false);
        continue;
      }
      if (end == "else") {
        ExpectBlockEnd();
        Body else_body = ParseBody({"endif"}, "if", node->pos, &end);
        node->branches.emplace_back(nullptr, std::move(else_body));
      }
      ExpectBlockEnd();
      return node;
    }
  }

  // name or name, name, ... (optionally in parentheses).
  std::vector<std::string> ParseTargets() {
    std::vector<std::string> names;
    const bool parenthesized = SkipOperator("(");
    do {
      if (parenthesized && IsOperator(")")) break;
      names.push_back(ExpectIdentifier());
    } while (SkipOperator(","));
    if (parenthesized) ExpectOperator(")");
    return names;
  }

  NodePtr ParseFor() {
    auto node = MakeNode(NodeKind::kFor, Next().pos);
    node->targets = ParseTargets();
    ExpectName("in");
    node->expr = ParseTuple(false);
    if (SkipName("if")) node->filter = ParseExpression();
    if (IsName("recursive")) FailAt(Peek().pos, "recursive for loops are not supported");
    ExpectBlockEnd();
    ++loop_depth_;
    std::string end;
    node->body = ParseBody({"else", "endfor"}, "for", node->pos, &end);
    --loop_depth_;
    if (end == "else") {
      ExpectBlockEnd();
      node->else_body = ParseBody({"endfor"}, "for", node->pos, &end);
    }
    ExpectBlockEnd();
    return node;
  }

  NodePtr ParseSet() {
    auto node = MakeNode(NodeKind::kSet, Next().pos);
    if (Peek().type == TokenType::kName && IsOperator(".", 1)) {
      node->targets.push_back(Next().value);
      Next();
      node->text = ExpectIdentifier();  // ns.attribute
    } else {
      node->targets = ParseTargets();
    }
    if (SkipOperator("=")) {
      node->expr = ParseTuple(true);
      ExpectBlockEnd();
      return node;
    }
    if (node->targets.size() != 1 || !node->text.empty()) Unexpected("'='");
    ExpectBlockEnd();
    std::string end;
    node->body = ParseBody({"endset"}, "set", node->pos, &end);
    ExpectBlockEnd();
    return node;
  }

  std::vector<MacroParam> ParseParams() {
    std::vector<MacroParam> params;
    ExpectOperator("(");
    while (!IsOperator(")")) {
      if (!params.empty()) ExpectOperator(",");
      MacroParam param;
      param.name = ExpectIdentifier();
      if (SkipOperator("=")) param.default_value = ParseExpression();
      params.push_back(std::move(param));
    }
    Next();
    return params;
  }

  NodePtr ParseMacro() {
    auto node = MakeNode(NodeKind::kMacro, Next().pos);
    node->text = ExpectIdentifier();
    node->params = ParseParams();
    ExpectBlockEnd();
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;  // break/continue cannot cross a macro
    std::string end;
    node->body = ParseBody({"endmacro"}, "macro", node->pos, &end);
    loop_depth_ = saved_loop_depth;
    if (Peek().type == TokenType::kName) Next();  // {% endmacro name %}
    ExpectBlockEnd();
    return node;
  }

  NodePtr ParseCallBlock() {
    auto node = MakeNode(NodeKind::kCallBlock, Next().pos);
    if (IsOperator("(")) node->params = ParseParams();
    node->expr = ParseExpression();
    if (node->expr->kind != ExprKind::kCall) FailAt(node->expr->pos, "'call' needs a macro call");
    ExpectBlockEnd();
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    std::string end;
    node->body = ParseBody({"endcall"}, "call", node->pos, &end);
    loop_depth_ = saved_loop_depth;
    ExpectBlockEnd();
    return node;
  }

  // ---- expressions ----

  // expr, expr, ... -> a tuple when there is a comma, else the one expression.
  ExprPtr ParseTuple(bool with_conditional) {
    const SourcePos pos = Peek().pos;
    std::vector<ExprPtr> items;
    bool saw_comma = false;
    while (true) {
      if (!items.empty()) {
        if (!SkipOperator(",")) break;
        saw_comma = true;
        if (AtExpressionEnd()) break;
      }
      items.push_back(with_conditional ? ParseExpression() : ParseOr());
    }
    if (!saw_comma) return std::move(items[0]);
    auto tuple = MakeExpr(ExprKind::kTuple, pos);
    tuple->children = std::move(items);
    return tuple;
  }

  bool AtExpressionEnd() const {
    const Token& t = Peek();
    return t.type == TokenType::kBlockEnd || t.type == TokenType::kPrintEnd || t.type == TokenType::kEnd ||
           IsOperator(")") || IsOperator("]") || IsOperator("}");
  }

  ExprPtr ParseExpression() {
    DepthGuard guard(*this);
    ExprPtr expr = ParseOr();
    while (IsName("if")) {
      auto conditional = MakeExpr(ExprKind::kConditional, Next().pos);
      conditional->children.push_back(ParseOr());
      conditional->children.push_back(std::move(expr));
      conditional->children.push_back(SkipName("else") ? ParseExpression() : nullptr);
      expr = std::move(conditional);
    }
    return expr;
  }

  ExprPtr Binary(const std::string& op, SourcePos pos, ExprPtr left, ExprPtr right) {
    auto e = MakeExpr(ExprKind::kBinary, pos);
    e->name = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr ParseOr() {
    ExprPtr left = ParseAnd();
    ChainGuard chain(*this);
    while (IsName("or")) {
      const SourcePos pos = Next().pos;
      chain.AddLink();
      left = Binary("or", pos, std::move(left), ParseAnd());
    }
    return left;
  }

  ExprPtr ParseAnd() {
    ExprPtr left = ParseNot();
    ChainGuard chain(*this);
    while (IsName("and")) {
      const SourcePos pos = Next().pos;
      chain.AddLink();
      left = Binary("and", pos, std::move(left), ParseNot());
    }
    return left;
  }

  ExprPtr ParseNot() {
    if (IsName("not")) {
      DepthGuard guard(*this);
      auto e = MakeExpr(ExprKind::kUnary, Next().pos);
      e->name = "not";
      e->children.push_back(ParseNot());
      return e;
    }
    return ParseCompare();
  }

  ExprPtr ParseCompare() {
    const SourcePos pos = Peek().pos;
    ExprPtr first = ParseMath1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      const Token& t = Peek();
      if (t.type == TokenType::kOperator &&
          (t.value == "==" || t.value == "!=" || t.value == "<" || t.value == "<=" || t.value == ">" ||
           t.value == ">=")) {
        ops.push_back(Next().value);
      } else if (IsName("in")) {
        Next();
        ops.push_back("in");
      } else if (IsName("not") && IsName("in", 1)) {
        Next();
        Next();
        ops.push_back("not in");
      } else {
        break;
      }
      operands.push_back(ParseMath1());
    }
    if (ops.empty()) return first;
    auto e = MakeExpr(ExprKind::kCompare, pos);
    e->children.push_back(std::move(first));
    for (auto& operand : operands) e->children.push_back(std::move(operand));
    e->ops = std::move(ops);
    return e;
  }

  ExprPtr ParseMath1() {
    ExprPtr left = ParseConcat();
    ChainGuard chain(*this);
    while (IsOperator("+") || IsOperator("-")) {
      const Token& op = Next();
      chain.AddLink();
      left = Binary(op.value, op.pos, std::move(left), ParseConcat());
    }
    return left;
  }

  ExprPtr ParseConcat() {
    ExprPtr left = ParseMath2();
    ChainGuard chain(*this);
    while (IsOperator("~")) {
      const SourcePos pos = Next().pos;
      chain.AddLink();
      left = Binary("~", pos, std::move(left), ParseMath2());
    }
    return left;
  }

  ExprPtr ParseMath2() {
    ExprPtr left = ParsePow();
    ChainGuard chain(*this);
    while (IsOperator("*") || IsOperator("/") || IsOperator("//") || IsOperator("%")) {
      const Token& op = Next();
      chain.AddLink();
      left = Binary(op.value, op.pos, std::move(left), ParsePow());
    }
    return left;
  }

  ExprPtr ParsePow() {
    ExprPtr left = ParseUnary(true);
    ChainGuard chain(*this);
    while (IsOperator("**")) {
      const SourcePos pos = Next().pos;
      chain.AddLink();
      left = Binary("**", pos, std::move(left), ParseUnary(true));
    }
    return left;
  }

  ExprPtr ParseUnary(bool with_filters) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (IsOperator("-") || IsOperator("+")) {
      node = MakeExpr(ExprKind::kUnary, Peek().pos);
      node->name = Next().value;
      node->children.push_back(ParseUnary(false));
    } else {
      node = ParsePostfix(ParsePrimary());
    }
    if (!with_filters) return node;
    return ParseFiltersAndTests(std::move(node));
  }

  // An integer token's value (jinja2's integers are unbounded; these are int64, and a larger one is an error).
  static Value IntegerLiteral(const Token& t) {
    int64_t value = 0;
    const char* end = t.value.data() + t.value.size();
    const auto [stop, error] = std::from_chars(t.value.data(), end, value);
    if (error != std::errc() || stop != end) FailAt(t.pos, "integer literal out of range: " + t.value);
    return Value::Int(value);
  }

  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    switch (t.type) {
      case TokenType::kName: {
        Next();
        auto e = MakeExpr(ExprKind::kLiteral, t.pos);
        if (t.value == "true" || t.value == "True") {
          e->literal = Value::Bool(true);
        } else if (t.value == "false" || t.value == "False") {
          e->literal = Value::Bool(false);
        } else if (t.value == "none" || t.value == "None") {
          e->literal = Value::None();
        } else {
          e->kind = ExprKind::kName;
          e->name = t.value;
        }
        return e;
      }
      case TokenType::kString: {
        auto e = MakeExpr(ExprKind::kLiteral, t.pos);
        std::string text;
        while (Peek().type == TokenType::kString) text += Next().value;  // "a" "b" == "ab"
        e->literal = Value::String(std::move(text));
        return e;
      }
      case TokenType::kInteger: {
        auto e = MakeExpr(ExprKind::kLiteral, Next().pos);
        e->literal = IntegerLiteral(t);
        return e;
      }
      case TokenType::kFloat: {
        auto e = MakeExpr(ExprKind::kLiteral, Next().pos);
        e->literal = Value::Float(std::strtod(t.value.c_str(), nullptr));
        return e;
      }
      case TokenType::kOperator:
        if (t.value == "(") {
          Next();
          if (SkipOperator(")")) {
            auto e = MakeExpr(ExprKind::kTuple, t.pos);
            return e;
          }
          ExprPtr inner = ParseTuple(true);
          ExpectOperator(")");
          return inner;
        }
        if (t.value == "[") {
          auto e = MakeExpr(ExprKind::kList, Next().pos);
          while (!SkipOperator("]")) {
            if (!e->children.empty()) {
              ExpectOperator(",");
              if (SkipOperator("]")) break;
            }
            e->children.push_back(ParseExpression());
          }
          return e;
        }
        if (t.value == "{") {
          auto e = MakeExpr(ExprKind::kDict, Next().pos);
          while (!SkipOperator("}")) {
            if (!e->children.empty()) {
              ExpectOperator(",");
              if (SkipOperator("}")) break;
            }
            e->children.push_back(ParseExpression());
            ExpectOperator(":");
            e->children.push_back(ParseExpression());
          }
          return e;
        }
        break;
      default: break;
    }
    Unexpected("an expression");
  }

  ExprPtr ParsePostfix(ExprPtr node) {
    ChainGuard chain(*this);
    while (true) {
      if (!IsOperator(".") && !IsOperator("[") && !IsOperator("(")) return node;
      chain.AddLink();
      if (IsOperator(".")) {
        const SourcePos pos = Next().pos;
        auto e = MakeExpr(ExprKind::kAttribute, pos);
        if (Peek().type == TokenType::kInteger) {  // x.0 == x[0]
          e->kind = ExprKind::kItem;
          e->children.push_back(std::move(node));
          auto index = MakeExpr(ExprKind::kLiteral, Peek().pos);
          index->literal = IntegerLiteral(Next());
          e->children.push_back(std::move(index));
        } else {
          e->name = ExpectIdentifier();
          e->children.push_back(std::move(node));
        }
        node = std::move(e);
      } else if (IsOperator("[")) {
        node = ParseSubscript(std::move(node));
      } else {
        node = ParseCall(std::move(node));
      }
    }
  }

  ExprPtr ParseSubscript(ExprPtr object) {
    const SourcePos pos = Next().pos;  // [
    ExprPtr start;
    if (!IsOperator(":")) start = ParseExpression();
    if (!IsOperator(":")) {
      ExpectOperator("]");
      auto e = MakeExpr(ExprKind::kItem, pos);
      e->children.push_back(std::move(object));
      e->children.push_back(std::move(start));
      return e;
    }
    Next();  // :
    ExprPtr stop, step;
    if (!IsOperator(":") && !IsOperator("]")) stop = ParseExpression();
    if (SkipOperator(":") && !IsOperator("]")) step = ParseExpression();
    ExpectOperator("]");
    auto e = MakeExpr(ExprKind::kSlice, pos);
    e->children.push_back(std::move(object));
    e->children.push_back(std::move(start));
    e->children.push_back(std::move(stop));
    e->children.push_back(std::move(step));
    return e;
  }

  Arguments ParseArguments() {
    ExpectOperator("(");
    Arguments args;
    while (!SkipOperator(")")) {
      if (!args.positional.empty() || !args.keyword.empty()) {
        ExpectOperator(",");
        if (SkipOperator(")")) break;
      }
      if (Peek().type == TokenType::kName && IsOperator("=", 1)) {
        std::string name = Next().value;
        Next();
        args.keyword.emplace_back(std::move(name), ParseExpression());
      } else {
        if (!args.keyword.empty()) FailAt(Peek().pos, "positional argument after a keyword argument");
        if (IsOperator("*") || IsOperator("**")) FailAt(Peek().pos, "*args and **kwargs are not supported");
        args.positional.push_back(ParseExpression());
      }
    }
    return args;
  }

  ExprPtr ParseCall(ExprPtr callee) {
    auto e = MakeExpr(ExprKind::kCall, callee->pos);  // messages point at the function's name
    e->args = ParseArguments();
    e->children.push_back(std::move(callee));
    return e;
  }

  ExprPtr ParseFiltersAndTests(ExprPtr node) {
    ChainGuard chain(*this);
    while (true) {
      if (!IsOperator("|") && !IsName("is") && !IsOperator("(")) return node;
      chain.AddLink();
      if (IsOperator("|")) {
        Next();
        auto e = MakeExpr(ExprKind::kFilter, Peek().pos);
        e->name = ExpectIdentifier();
        if (!IsKnownFilter(e->name)) FailAt(e->pos, "no filter named '" + e->name + "'");
        if (IsOperator("(")) e->args = ParseArguments();
        e->children.push_back(std::move(node));
        node = std::move(e);
      } else if (IsName("is")) {
        Next();
        auto e = MakeExpr(ExprKind::kTest, Peek().pos);
        e->negated = SkipName("not");
        e->pos = Peek().pos;
        e->name = ExpectIdentifier();
        if (!IsKnownTest(e->name)) FailAt(e->pos, "no test named '" + e->name + "'");
        if (IsOperator("(")) {
          e->args = ParseArguments();
        } else if (StartsTestArgument()) {
          e->args.positional.push_back(ParsePostfix(ParsePrimary()));  // `x is divisibleby 3`
        }
        e->children.push_back(std::move(node));
        node = std::move(e);
      } else {
        node = ParseCall(std::move(node));
      }
    }
  }

  bool StartsTestArgument() const {
    const Token& t = Peek();
    if (t.type == TokenType::kName) {
      return t.value != "else" && t.value != "or" && t.value != "and" && t.value != "is" && t.value != "if" &&
             t.value != "not" && t.value != "in";
    }
    return t.type == TokenType::kString || t.type == TokenType::kInteger || t.type == TokenType::kFloat ||
           IsOperator("[") || IsOperator("{");
  }

  const std::vector<Token>& tokens_;
  const Limits& limits_;
  size_t index_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body Parse(const std::vector<Token>& tokens, const Limits& limits) { return Parser(tokens, limits).ParseTemplate(); }

}  // namespace fp4lab::jinja
