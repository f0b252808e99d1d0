// LocatedDocument: one YAML document as JSON, remembering where in which file every
// value and every mapping key was written, so any rule can point at its source.
//
// YAML is read with the YAML 1.2 core schema: `yes`, `no`, `on` and `08:00` are
// strings, not booleans or sexagesimal numbers. Duplicate keys, non-string keys,
// anchors that expand past a size limit, invalid UTF-8 and files over a size limit
// are diagnostics; the parser never throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/json_cursor.h"
#include "gwctl/diagnostics.h"

namespace gwctl {

class LocatedDocument {
 public:
  LocatedDocument() = default;
  explicit LocatedDocument(std::string file);

  const nlohmann::json& value() const { return value_; }
  nlohmann::json& mutable_value() { return value_; }

  // The file the document (or, after merging, most of it) came from.
  const std::string& file() const { return *files_.front(); }

  // Where the value at `pointer` was written; with `key`, where its mapping key was.
  // Falls back to the nearest ancestor that has a location, then to the file itself.
  Location LocationOf(std::string_view pointer, bool key = false) const;

  // Records a position for a pointer (used by the parser and by merging).
  void SetLocation(const std::string& pointer, bool key, const Location& location);

  // Copies the value and locations at `from_pointer` of `other` to `to_pointer` here
  // (the value itself is set by the caller). Used when merging defaults.
  void CopyLocations(const LocatedDocument& other, std::string_view from_pointer,
                     std::string_view to_pointer);

 private:
  struct Position {
    uint32_t file = 0;
    int line = 0;
    int column = 0;
  };
  uint32_t FileIndex(const std::string& file);

  nlohmann::json value_;
  std::vector<std::shared_ptr<const std::string>> files_;
  std::unordered_map<std::string, Position> values_;
  std::unordered_map<std::string, Position> keys_;
};

// Limits that keep a hostile or accidental input from exhausting the machine.
struct YamlLimits {
  size_t max_file_bytes = 16u << 20;  // 16 MiB
  size_t max_values = 1'000'000;      // after expanding anchors and aliases (and at most
                                      // 16 per byte of the file, plus 10,000)
  int max_depth = 64;
};

// Parses every document of one file. `file` is the repository-relative name used in
// diagnostics. Empty documents (only comments) are skipped.
std::vector<LocatedDocument> ParseYamlDocuments(const std::string& file, std::string_view text,
                                                Diagnostics& diagnostics,
                                                const YamlLimits& limits = {});

using gw::JsonCursor;
using gw::PointerAppend;

// Position of the first invalid UTF-8 byte (1-based line, column), if any.
bool FindInvalidUtf8(std::string_view text, int& line, int& column);

}  // namespace gwctl
