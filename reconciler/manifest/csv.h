// RFC 4180 CSV: comma-separated, "double quotes" around fields that hold commas,
// quotes ("" inside) or line breaks; CRLF or LF; an optional UTF-8 BOM. Every field
// keeps its line and column so a bad row can be pointed at.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gwctl/diagnostics.h"

namespace gwctl {

struct CsvField {
  std::string value;
  int line = 0;
  int column = 0;
};

struct CsvRecord {
  int line = 0;  // where the record starts
  std::vector<CsvField> fields;
};

// Bounds on one record, so a file of one endless line or field costs a diagnostic, not
// gigabytes of fields (the file's size is bounded by its reader).
struct CsvLimits {
  size_t max_fields = 256;
  size_t max_field_bytes = 64u << 10;
};

// Parses `text`. Blank lines are skipped. A record with a syntax error (an unclosed
// quote, text after a closing quote) or over a limit is reported in `diagnostics` and
// left out; parsing resumes on the next line.
std::vector<CsvRecord> ParseCsv(const std::string& file, std::string_view text,
                                Diagnostics& diagnostics, const CsvLimits& limits = {});

}  // namespace gwctl
