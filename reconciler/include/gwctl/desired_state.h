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
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gateway/model.h"
#include "gateway/status.h"
#include "gwctl/manifests.h"
#include "gwctl/secrets.h"
#include "gwctl/trust.h"

namespace gwctl {

// What one user source of a customer contributed, shown in the plan.
struct UserSourceReport {
  std::string kind;  // "inline" | "csv" | a directory source ("ldap", "microsoft365", ...)
  std::string name;  // the CSV file, the LDAP URL, the tenant; "" for inline
  size_t users = 0;  // users it added (an address another source already has counts there)
  bool failed = false;
  // Not read this pass because its next read is not due yet (the loop's schedule): its
  // users are kept, as for a failed source, without a warning.
  bool not_due = false;
  bool attempted = false;  // the directory was asked (and answered, or failed)
  std::string settings;    // a directory source's settings as JSON text: which source it is
  std::string detail;      // why it failed or was not read, or what it skipped
  std::vector<std::string> warnings;  // DirectoryUsers::warnings
};

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
  std::vector<UserSourceReport> sources;
  bool has_directory_sources = false;
  // What an untrusted run left unused (a secret reference new in the revision), for the
  // plan's warnings.
  std::vector<std::string> untrusted_notes;
};

// The fingerprint of a secret an untrusted run did not read: it matches no real one.
inline constexpr const char* kUnreadSecretFingerprint = "unread (untrusted revision)";

struct DesiredState {
  std::string partner;
  std::string owner;  // "gwctl:<partner>": written on every customer this repository manages
  std::vector<DesiredCustomer> customers;  // sorted by name
};

// One directory source of one customer, to be read.
struct DirectoryRequest {
  std::string customer;
  const nlohmann::json* source = nullptr;  // the manifest's source object
  std::set<std::string> domains;           // the customer's domains, normalised
};

struct DirectoryUsers {
  std::vector<gw::User> users;
  std::string detail;  // what was skipped, for the plan ("" if nothing)
  // For the plan's warnings and the loop's status: a credential close to its expiry, ...
  std::vector<std::string> warnings;
};

// Reads the users of one directory source. Returning an error marks the source failed
// for that customer. Called concurrently for different requests.
using UserSourceResolver = std::function<gw::Result<DirectoryUsers>(const DirectoryRequest&)>;

// A kind of directory customers take users from: the manifest's `spec.users.<kind>`
// list, the field that names one source in the plan, and how to read one (unset: its
// sources are not read this time, and the users they gave stay on the gateway).
struct UserDirectory {
  std::string kind;  // one of gw::kDirectorySources
  std::string name_field;
  UserSourceResolver read;
};

// How directory sources are read.
struct DirectoryReading {
  SecretPolicy secrets;
  // Where cloud directories keep what they read between runs (Microsoft 365's objects
  // and delta links, so that the next read asks only for changes); empty: every read is
  // a full one. Only the reader uses it: its files are mode 0600.
  std::filesystem::path cache_dir;
};

// Every kind of directory gwctl reads users from (gw::kDirectorySources); a new kind is
// one more entry here (desire/directory_users.cpp) beside its resolver. With `read`,
// each is read as `reading` says.
std::vector<UserDirectory> UserDirectories(const DirectoryReading& reading, bool read);

struct DesiredOptions {
  SecretPolicy secrets;      // which secrets manifests may name, and where file: secrets live
  std::string revision;      // the commit being applied, if known
  std::string display_root;  // prefix for file names in messages
  // The kinds of directory sources, read or not (by default: known, not read).
  std::vector<UserDirectory> directories = UserDirectories({}, false);
  // When set, directory sources are read only for these customers (the ones planned).
  std::optional<std::set<std::string>> only;
  // Set in an untrusted run (gwctl/trust.h): a directory source is read, and a secret
  // resolved, only when the base has it so for the same customer. The others are
  // reported (a source as failed, so its users stay; a secret as changing after merge).
  const TrustedBase* trusted_base = nullptr;
  size_t directory_parallelism = 8;  // sources read at once (they wait on the network)
  // When set, a directory source is read only when this has no reason against it now
  // (the loop reads each source on its own interval); `settings` is the source's JSON.
  std::function<std::optional<std::string>(const std::string& customer, const std::string& kind,
                                           const nlohmann::json& settings)>
      not_due;
};

// Fails when a secret cannot be resolved (the message names the reference and the
// manifest line) — nothing is planned with a missing password.
// A secret an untrusted run leaves unread has kUnreadSecretFingerprint as its fingerprint,
// which matches no secret (so the plan shows it changing) and no saved plan applies.
gw::Result<DesiredState> BuildDesiredState(const Manifests& manifests,
                                           const DesiredOptions& options);

}  // namespace gwctl
