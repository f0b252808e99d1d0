// Manifests: a partner repository after loading and validation. The Customer
// documents are kept as written and as effective (PartnerDefaults merged in), with
// every value's source location, plus their users resolved from inline mailboxes and
// CSV files. This is the desired state the planner diffs against the gateway.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gateway/customer_rules.h"
#include "gwctl/diagnostics.h"
#include "gwctl/located_document.h"

namespace gwctl {

struct UserRecord {
  std::string address;  // normalised local@domain
  std::string first_name;
  std::string last_name;
  std::string type = "mailbox";      // mailbox | shared | resource | alias
  std::vector<std::string> aliases;  // normalised
  std::string source;                // "manifest" | "csv"
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
