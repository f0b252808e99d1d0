// Directory users: turns the entries of an LDAP or Active Directory search into gateway
// users, and plugs LDAP sources into the desired state (UserDirectories, one entry per
// kind of directory; DesiredOptions::directories).
//
// Mapping (per entry, entries taken in DN order so the outcome never depends on the
// order the server answered in):
// - the address is the first value of the address attribute; further values become
//   aliases. In an aliases attribute shaped like Active Directory's proxyAddresses,
//   "SMTP:" marks the primary address (it wins over `mail`), "smtp:" an alias, and
//   other types (X500:, SIP:, ...) are ignored.
// - Active Directory accounts with ACCOUNTDISABLE set in userAccountControl are skipped.
// - Addresses outside the customer's domains, invalid addresses, and entries without an
//   address are reported, never imported; an address two entries claim goes to the
//   first and is reported.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gateway/model.h"
#include "gwctl/desired_state.h"
#include "ldap_search.h"

namespace gwctl {

struct DirectoryMapping {
  std::vector<gw::User> users;  // source "ldap", sorted by address
  size_t disabled = 0;          // Active Directory accounts skipped
  size_t without_address = 0;
  std::vector<std::string> outside_domains;  // addresses not imported (all of them)
  std::vector<std::string> invalid;          // "value (dn)"
  std::vector<std::string> duplicates;       // addresses claimed by an earlier entry

  // One line for the plan: what was skipped and why, with a few examples.
  std::string SkippedSummary() const;
};

DirectoryMapping MapDirectoryEntries(const std::vector<DirectoryEntry>& entries,
                                     const LdapSource& source,
                                     const std::set<std::string>& customer_domains);

// The resolver gwctl plan and apply use: resolves the bind password reference, searches,
// maps, and enforces minUsers (unset: a source that yields no users at all is failed,
// as that is far likelier a wrong filter or base than an empty company).
UserSourceResolver LdapUserResolver(SecretPolicy secrets);

}  // namespace gwctl
