// SchemaSet: the JSON Schemas of schemas/ (compiled into the binary), used to check the
// shape of manifests in gwctl and of every write in the engine, so both agree exactly.
//
// Contract: Validate() never throws and is safe to call from many threads at once.
// Each violation names the offending value by JSON pointer and carries a message for a
// person ("must be one of: standard, premium"), not the validator's internal wording.
// Summary errors that only repeat a deeper one are dropped; every unknown field of an
// object is reported, not just the first.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace gw {

struct SchemaViolation {
  std::string pointer;  // JSON pointer of the value (or, when at_key, of the unknown key)
  bool at_key = false;  // the violation is the key itself (an unknown field)
  std::string message;
};

class SchemaSet {
 public:
  // The schemas embedded at build time. Parsed on first use.
  static const SchemaSet& Builtin();

  // Checks `document` against the schema file `name` of schemas/, e.g.
  // "customer.schema.json". An unknown name is a programming error and aborts.
  std::vector<SchemaViolation> Validate(std::string_view name,
                                        const nlohmann::json& document) const;

  // The schema files as {file name, JSON text}, e.g. for `gwctl schema`.
  static const std::vector<std::pair<std::string_view, std::string_view>>& Files();

  ~SchemaSet();
  SchemaSet(const SchemaSet&) = delete;
  SchemaSet& operator=(const SchemaSet&) = delete;

 private:
  SchemaSet();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw
