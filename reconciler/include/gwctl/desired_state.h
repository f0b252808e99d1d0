// DesiredState: what the gateway should hold, built from validated manifests: each
// customer's settings document (PartnerDefaults merged, users split out), its users,
// and its secrets resolved from their references.
//
// Users come from resolvers, one per kind of source: inline mailboxes and CSV files
// are resolved by validation already; a UserSourceResolver adds directory sources
// (LDAP). A source that fails is reported and marks its users as "keep what the
// gateway has": a failed sync never deletes anyone.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gateway/model.h"
#include "gateway/status.h"
#include "gwctl/manifests.h"

namespace gwctl {

struct DesiredCustomer {
  std::string name;
  std::string file;                  // the manifest that defines it
  const LocatedDocument* effective;  // locations of every value (points into Manifests)
  gw::CustomerWrite write;           // what a create or replace sends
  std::map<std::string, std::string> secret_fingerprints;
  std::vector<gw::User> users;  // sorted by address
  std::string users_digest;
  // Sources whose users could not be read this time: their users on the gateway stay.
  std::set<std::string> failed_sources;  // e.g. "ldap"
  std::vector<std::string> notes;        // said loudly in the plan
};

struct DesiredState {
  std::string partner;
  std::string owner;  // "gwctl:<partner>": written on every customer this repository manages
  std::vector<DesiredCustomer> customers;  // sorted by name
};

// Fills in the users of one directory source of a customer (LDAP: issue 6 plugs in
// here). Returning an error marks the source failed for that customer.
using UserSourceResolver = std::function<gw::Result<std::vector<gw::User>>(
    const std::string& customer, const nlohmann::json& source)>;

struct DesiredOptions {
  std::filesystem::path repository_root;  // for file: secrets
  std::string revision;                   // the commit being applied, if known
  UserSourceResolver ldap;                // unset: LDAP sources are not read (their users are kept)
};

// Fails when a secret cannot be resolved (the message names the reference and the
// manifest line) — nothing is planned with a missing password.
gw::Result<DesiredState> BuildDesiredState(const Manifests& manifests,
                                           const DesiredOptions& options);

}  // namespace gwctl
