#include "csv.h"

#include <fmt/format.h>

namespace gwctl {

namespace {

class CsvParser {
 public:
  CsvParser(const std::string& file, std::string_view text, Diagnostics& diagnostics,
            const CsvLimits& limits)
      : file_(file), text_(text), diagnostics_(diagnostics), limits_(limits) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
  }

  std::vector<CsvRecord> Parse() {
    std::vector<CsvRecord> records;
    while (pos_ < text_.size()) {
      if (AtLineEnd()) {  // blank line
        SkipLineEnd();
        continue;
      }
      CsvRecord record;
      record.line = line_;
      if (ParseRecord(record)) {
        records.push_back(std::move(record));
      } else {
        SkipRestOfLine();
      }
    }
    return records;
  }

 private:
  bool AtLineEnd() const { return text_[pos_] == '\n' || text_[pos_] == '\r'; }

  void Advance() {
    char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++column_;  // count characters, not UTF-8 continuation bytes
    }
  }

  void SkipLineEnd() {
    if (pos_ < text_.size() && text_[pos_] == '\r') {
      ++pos_;
      ++column_;
    }
    if (pos_ < text_.size() && text_[pos_] == '\n') Advance();
  }

  void SkipRestOfLine() {
    while (pos_ < text_.size() && text_[pos_] != '\n') Advance();
    if (pos_ < text_.size()) Advance();
  }

  bool TooLong(const CsvField& field) {
    if (field.value.size() < limits_.max_field_bytes) return false;
    diagnostics_.Error({file_, field.line, field.column}, "csv",
                       fmt::format("field is longer than {} bytes", limits_.max_field_bytes));
    return true;
  }

  // Reads one record up to and including its line end.
  bool ParseRecord(CsvRecord& record) {
    while (true) {
      if (record.fields.size() == limits_.max_fields) {
        diagnostics_.Error({file_, line_, column_}, "csv",
                           fmt::format("record has more than {} fields", limits_.max_fields));
        return false;
      }
      CsvField field;
      field.line = line_;
      field.column = column_;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        Advance();
        while (true) {
          if (pos_ >= text_.size()) {
            diagnostics_.Error({file_, field.line, field.column}, "csv",
                               "quoted field is never closed");
            return false;
          }
          if (text_[pos_] == '"') {
            if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
              if (TooLong(field)) return false;
              field.value += '"';
              Advance();
              Advance();
              continue;
            }
            Advance();
            break;
          }
          if (TooLong(field)) return false;
          field.value += text_[pos_];
          Advance();
        }
        if (pos_ < text_.size() && text_[pos_] != ',' && !AtLineEnd()) {
          diagnostics_.Error({file_, line_, column_}, "csv",
                             "unexpected text after a closing quote (write a quote inside a quoted "
                             "field as \"\")");
          return false;
        }
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && !AtLineEnd()) {
          if (text_[pos_] == '"') {
            diagnostics_.Error(
                {file_, line_, column_}, "csv",
                "quote inside an unquoted field (quote the whole field and double the quote)");
            return false;
          }
          if (TooLong(field)) return false;
          field.value += text_[pos_];
          Advance();
        }
      }
      record.fields.push_back(std::move(field));
      if (pos_ >= text_.size()) return true;
      if (text_[pos_] == ',') {
        Advance();
        continue;
      }
      SkipLineEnd();
      return true;
    }
  }

  const std::string& file_;
  std::string_view text_;
  Diagnostics& diagnostics_;
  const CsvLimits& limits_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

}  // namespace

std::vector<CsvRecord> ParseCsv(const std::string& file, std::string_view text,
                                Diagnostics& diagnostics, const CsvLimits& limits) {
  return CsvParser(file, text, diagnostics, limits).Parse();
}

}  // namespace gwctl
