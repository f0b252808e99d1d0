// Manifests: a partner repository after loading and validation. The Customer
// documents are kept as written and as effective (PartnerDefaults merged in), with
// every value's source location, plus their users resolved from inline mailboxes and
// CSV files. This is the desired state the planner diffs against the gateway.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/customer_rules.h"
#include "gateway/json_cursor.h"
#include "gwctl/diagnostics.h"

namespace gwctl {

using gw::JsonCursor;
using gw::PointerAppend;

// One YAML document as JSON, remembering where in which file every value and every
// mapping key was written, so any rule can point at its source.
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

struct UserRecord {
  std::string address;  // normalised local@domain
  std::string first_name;
  std::string last_name;
  std::string type = "mailbox";      // mailbox | shared | resource | alias
  std::vector<std::string> aliases;  // normalised
  std::string source;                // "manifest" | "csv"
  bool continuity = false;           // activated for a continuity mailbox
  Location location;                 // the mailbox entry or CSV row that defines it

  bool billable() const { return type == "mailbox"; }
};

struct CustomerManifest {
  std::string name;
  LocatedDocument document;       // as written in its file
  LocatedDocument effective;      // with PartnerDefaults merged in (locations point to either file)
  gw::CompiledCustomer compiled;  // the typed settings, from the engine's own rules
  std::vector<UserRecord> users;  // sorted by address, one per address

  const std::vector<std::string>& domains() const { return compiled.config.domains; }
};

struct Manifests {
  std::optional<LocatedDocument> repository;
  std::optional<LocatedDocument> defaults;
  std::vector<CustomerManifest> customers;  // sorted by name
  std::vector<LocatedDocument> mail_tests;  // kind: MailTest (mail_trace.h)

  // The Repository's metadata.name: the partner on the gateway. Empty if unknown.
  std::string partner() const;
};

// Merges PartnerDefaults' spec into a Customer document: maps merge key by key, the
// customer's value wins, lists and scalars are replaced whole. Locations of inherited
// values point into the defaults file.
LocatedDocument MergeDefaults(const LocatedDocument& customer, const LocatedDocument* defaults);

}  // namespace gwctl
