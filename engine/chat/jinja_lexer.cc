#include "engine/chat/jinja_lexer.h"

#include <algorithm>
#include <cstring>

#include "engine/chat/jinja_text.h"

namespace fp4lab::jinja {

namespace {

// jinja2 reads its templates with universal newlines and, unless keep_trailing_newline, drops one final newline.
std::string NormalizeNewlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

// Python's rstrip(): the text without trailing Unicode whitespace.
std::string RstripPython(const std::string& text) { return Strip(text, std::nullopt, false, true); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> Run() {
    bool line_starting = true;  // the previous token ended at the start of a line (for lstrip_blocks)
    while (pos_ < src_.size()) {
      size_t tag = FindTagStart(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      if (tag < src_.size()) {
        const char kind = src_[tag + 1];
        const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
        if (sign == '-') {
          text = RstripPython(text);
        } else if (sign != '+' && kind != '{') {
          const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
          const bool only_blanks =
              std::all_of(text.begin() + line_start, text.end(), [](char c) { return c == ' ' || c == '\t'; });
          if ((line_start > 0 || line_starting) && only_blanks) text.resize(line_start);
        }
      }
      if (!text.empty()) Emit(TokenType::kText, text, pos_);
      if (tag >= src_.size()) break;
      const char kind = src_[tag + 1];
      pos_ = tag + 2;
      if (pos_ < src_.size() && (src_[pos_] == '-' || src_[pos_] == '+')) ++pos_;
      if (kind == '#') {
        line_starting = LexComment(tag);
      } else {
        line_starting = LexTag(tag, kind == '{');
      }
    }
    Emit(TokenType::kEnd, "", src_.size());
    return std::move(tokens_);
  }

 private:
  SourcePos PosOf(size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    return {static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  void Emit(TokenType type, std::string value, size_t offset) {
    tokens_.push_back(Token{type, std::move(value), PosOf(offset)});
  }

  size_t FindTagStart(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  // Byte length of the Python whitespace character at pos_ (jinja2's \s), 0 if there is none.
  size_t SpaceLengthAt() const {
    if (IsAsciiSpace(src_[pos_])) return 1;
    if (static_cast<unsigned char>(src_[pos_]) < 0x80) return IsPythonSpace(static_cast<unsigned char>(src_[pos_]));
    size_t length = 1;
    while (pos_ + length < src_.size() && (static_cast<unsigned char>(src_[pos_ + length]) & 0xC0) == 0x80) ++length;
    const std::u32string c = DecodeUtf8(std::string_view(src_).substr(pos_, length));
    return c.size() == 1 && IsPythonSpace(c[0]) ? length : 0;
  }

  // After a closing marker: "-" strips all following whitespace; trim_blocks drops one newline after %} and #}.
  // Returns whether the consumed text ended with a newline.
  bool AfterTagEnd(bool strip, bool trim_newline) {
    bool ended_with_newline = false;
    if (strip) {
      while (pos_ < src_.size()) {
        const size_t length = SpaceLengthAt();
        if (length == 0) break;
        ended_with_newline = src_[pos_] == '\n';
        pos_ += length;
      }
    } else if (trim_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      ended_with_newline = true;
    }
    return ended_with_newline;
  }

  bool LexComment(size_t start) {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) FailAt(PosOf(start), "unterminated comment: '{#' without '#}'");
    const char sign = end > pos_ ? src_[end - 1] : '\0';
    pos_ = end + 2;
    return AfterTagEnd(sign == '-', sign != '+');
  }

  // Expression tokens up to "}}" or "%}" (outside brackets). Returns whether the tag end consumed a newline.
  bool LexTag(size_t start, bool is_print) {
    Emit(is_print ? TokenType::kPrintBegin : TokenType::kBlockBegin, "", start);
    std::vector<char> brackets;
    const char close = is_print ? '}' : '%';
    while (true) {
      while (pos_ < src_.size() && IsAsciiSpace(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) {
        FailAt(PosOf(start), std::string("unterminated tag: '") + (is_print ? "{{' without '}}'" : "{%' without '%}'"));
      }
      if (brackets.empty()) {
        const char c = src_[pos_];
        const bool signed_end = (c == '-' || c == '+') && pos_ + 2 < src_.size() &&
                                src_[pos_ + 1] == close && src_[pos_ + 2] == '}';
        if (signed_end || (c == close && pos_ + 1 < src_.size() && src_[pos_ + 1] == '}')) {
          Emit(is_print ? TokenType::kPrintEnd : TokenType::kBlockEnd, "", pos_);
          pos_ += signed_end ? 3 : 2;
          return AfterTagEnd(signed_end && c == '-', !is_print && !(signed_end && c == '+'));
        }
      }
      LexExpressionToken(brackets);
    }
  }

  void LexExpressionToken(std::vector<char>& brackets) {
    const size_t start = pos_;
    const char c = src_[pos_];
    if (IsNameStart(c)) {
      while (pos_ < src_.size() && IsNameChar(src_[pos_])) ++pos_;
      Emit(TokenType::kName, src_.substr(start, pos_ - start), start);
      return;
    }
    if (IsDigit(c)) {
      LexNumber();
      return;
    }
    if (c == '\'' || c == '"') {
      LexString();
      return;
    }
    static const char* const kOperators[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                             ">",  "=",  ".",  ",",  ":",  "|",  "(", ")", "[", "]", "{", "}"};
    for (const char* op : kOperators) {
      const size_t n = std::strlen(op);
      if (src_.compare(pos_, n, op) != 0) continue;
      if (n == 1 && (c == '(' || c == '[' || c == '{')) brackets.push_back(c);
      if (n == 1 && (c == ')' || c == ']' || c == '}')) {
        const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
        if (brackets.empty() || brackets.back() != open) FailAt(PosOf(start), std::string("unexpected '") + c + "'");
        brackets.pop_back();
      }
      pos_ += n;
      Emit(TokenType::kOperator, op, start);
      return;
    }
    FailAt(PosOf(start), std::string("unexpected character '") + c + "'");
  }

  void LexNumber() {
    const size_t start = pos_;
    std::string digits;
    auto read_digits = [&] {
      while (pos_ < src_.size() && (IsDigit(src_[pos_]) || (src_[pos_] == '_' && pos_ + 1 < src_.size() &&
                                                             IsDigit(src_[pos_ + 1])))) {
        if (src_[pos_] != '_') digits += src_[pos_];
        ++pos_;
      }
    };
    read_digits();
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && IsDigit(src_[pos_ + 1])) {
      is_float = true;
      digits += '.';
      ++pos_;
      read_digits();
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && IsDigit(src_[p])) {
        is_float = true;
        digits += 'e';
        digits.append(src_, pos_ + 1, p - pos_ - 1);
        pos_ = p;
        read_digits();
      }
    }
    Emit(is_float ? TokenType::kFloat : TokenType::kInteger, digits, start);
  }

  // Python string literal escapes, as jinja2 decodes them ("unicode-escape"); an unknown escape stays as written.
  void LexString() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) FailAt(PosOf(start), "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) FailAt(PosOf(start), "unterminated string literal");
      const char e = src_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '0': out += '\0'; break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int width = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t code = 0;
          for (int k = 0; k < width; ++k) {
            const int h = pos_ < src_.size() ? HexValue(src_[pos_]) : -1;
            if (h < 0) FailAt(PosOf(start), std::string("string literal: truncated \\") + e + " escape");
            code = code * 16 + static_cast<char32_t>(h);
            ++pos_;
          }
          if (code > 0x10FFFF) FailAt(PosOf(start), "string literal: escape beyond U+10FFFF");
          AppendUtf8(code, out);
          break;
        }
        default:
          out += '\\';
          out += e;
      }
    }
    Emit(TokenType::kString, out, start);
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> Tokenize(std::string_view source) { return Lexer(NormalizeNewlines(source)).Run(); }

}  // namespace fp4lab::jinja
