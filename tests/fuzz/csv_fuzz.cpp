// The CSV reader: no crash, and every field it returns lies within the limits.
#include <cstddef>
#include <cstdint>

#include "csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gwctl::Diagnostics diagnostics;
  gwctl::CsvLimits limits;
  limits.max_fields = 16;
  limits.max_field_bytes = 256;
  auto records = gwctl::ParseCsv(
      "fuzz.csv", std::string_view(reinterpret_cast<const char*>(data), size), diagnostics, limits);
  for (const auto& record : records) {
    if (record.fields.empty() || record.fields.size() > limits.max_fields) __builtin_trap();
    for (const auto& field : record.fields)
      if (field.value.size() > limits.max_field_bytes || field.line < record.line) __builtin_trap();
  }
  return 0;
}
