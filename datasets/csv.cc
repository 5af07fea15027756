#include "datasets/csv.h"

namespace fp4lab {
namespace {

std::string Where(std::string_view file_name, int line) {
  return std::string(file_name) + ":" + std::to_string(line) + ": ";
}

// Streams through the text one record at a time, tracking physical lines.
class CsvParser {
 public:
  CsvParser(std::string_view text, std::string_view file_name) : text_(text), file_name_(file_name) {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
  }

  Result<std::vector<CsvRecord>> ParseAll() {
    std::vector<CsvRecord> records;
    while (pos_ < text_.size()) {
      if (AtLineBreak()) {  // an empty physical line
        ConsumeLineBreak();
        continue;
      }
      CsvRecord record;
      record.line = line_;
      FP4LAB_RETURN_IF_ERROR(ParseRecord(record.fields));
      records.push_back(std::move(record));
    }
    return records;
  }

 private:
  bool AtLineBreak() const { return text_[pos_] == '\n' || text_[pos_] == '\r'; }

  // REQUIRES: AtLineBreak(). CRLF counts as one break.
  void ConsumeLineBreak() {
    if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
  }

  // Parses fields up to and including the record's line break (or the end of the text).
  Status ParseRecord(std::vector<std::string>& fields) {
    while (true) {
      std::string field;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        FP4LAB_RETURN_IF_ERROR(ParseQuotedField(field));
      } else {
        FP4LAB_RETURN_IF_ERROR(ParseUnquotedField(field));
      }
      fields.push_back(std::move(field));
      if (pos_ >= text_.size()) return Status::Ok();
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      ConsumeLineBreak();  // the field parsers stop only at ',', a line break or the end
      return Status::Ok();
    }
  }

  Status ParseUnquotedField(std::string& field) {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && !AtLineBreak()) {
      if (text_[pos_] == '"') {
        return Status::InvalidArgument(Where(file_name_, line_) + "'\"' inside an unquoted field (quote the whole field)");
      }
      ++pos_;
    }
    field.assign(text_.substr(start, pos_ - start));
    return Status::Ok();
  }

  // REQUIRES: text_[pos_] == '"'.
  Status ParseQuotedField(std::string& field) {
    const int open_line = line_;
    ++pos_;
    while (true) {
      if (pos_ >= text_.size()) {
        return Status::InvalidArgument(Where(file_name_, line_) + "unterminated quoted field (the quote opens on line " +
                                       std::to_string(open_line) + ")");
      }
      const char c = text_[pos_];
      if (c == '"') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          field.push_back('"');
          pos_ += 2;
          continue;
        }
        ++pos_;  // closing quote
        break;
      }
      if (c == '\n' || (c == '\r' && (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '\n'))) ++line_;
      field.push_back(c);
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] != ',' && !AtLineBreak()) {
      return Status::InvalidArgument(Where(file_name_, line_) + "expected ',' or end of line after closing quote, got '" +
                                     std::string(1, text_[pos_]) + "'");
    }
    return Status::Ok();
  }

  std::string_view text_;
  std::string_view file_name_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

Result<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view file_name) {
  return CsvParser(text, file_name).ParseAll();
}

}  // namespace fp4lab
