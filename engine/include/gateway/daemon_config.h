// gatewayd.yaml: one gateway host's configuration, read by gatewayd, gw-milter and
// `gatewayd setup` (schemas/gatewayd.schema.json says what it may hold).
//
// Contract: Read() never throws. A file that is not YAML, or whose content the schema
// refuses, gives kInvalidArgument whose message lists every problem, one per line, each
// as "FILE:LINE:COLUMN: message" (an unreadable file: kUnavailable). Value() answers the
// file's value at a JSON pointer, or the schema's documented default, so every reader of
// the file agrees on the defaults.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/status.h"

namespace gw {

class DaemonConfig {
 public:
  static Result<DaemonConfig> Read(const std::string& path);
  // The same for text already read; `name` stands for the file in messages.
  static Result<DaemonConfig> Parse(const std::string& name, std::string_view text);

  // The value at `pointer` ("/mail/inbound"): the file's, else the schema's default, else
  // nullopt.
  std::optional<nlohmann::json> Value(std::string_view pointer) const;
  // Value() as a string ("" when absent), or a boolean (false when absent).
  std::string String(std::string_view pointer) const;
  bool Flag(std::string_view pointer) const;
  // Whether the file itself sets `pointer` (a default does not count).
  bool Has(std::string_view pointer) const;

  // "FILE:LINE:COLUMN" of the value at `pointer`, or of its nearest parent the file has
  // (an unset value: where it would go).
  std::string Where(std::string_view pointer) const;

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  nlohmann::json document_;
  std::map<std::string, std::string, std::less<>> where_;  // pointer -> "FILE:LINE:COLUMN"
};

}  // namespace gw
