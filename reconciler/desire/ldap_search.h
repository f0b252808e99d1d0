// LdapSearch: reads every entry a customer's LDAP or Active Directory source selects,
// with the OpenLDAP client library.
//
// Contract:
// - ldap://, ldaps:// and ldap:// upgraded with StartTLS. Certificates are always
//   verified, against `ca_file` or else the system's CA bundle, including the host name;
//   nothing from ldap.conf or ~/.ldaprc can weaken that.
// - A simple bind with the given password, or an anonymous bind when there is no bind DN.
// - Paged results (RFC 2696): a directory that caps each page (Active Directory: 1,000)
//   still returns every entry. A result that is incomplete for any reason (size or time
//   limit, a page cookie lost, a referral for the base) is an error, never a short list.
// - The filter is sent exactly as written; nothing read from the directory is ever put
//   into a filter.
// - `timeout_seconds` bounds connecting and each request (bind, StartTLS, each page).
// - Referrals are not chased unless `follow_referrals`; then they are chased anonymously
//   (the bind password is never sent to another server).
// - Errors name the server and the step (connect, TLS, bind, search) and never carry
//   the password.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/status.h"

namespace gwctl {

enum class DirectoryKind { kOpenLdap, kActiveDirectory };

// Which attributes hold what. Defaults depend on the directory kind (see DefaultsFor).
struct DirectoryAttributes {
  std::string address = "mail";
  std::string first_name = "givenName";
  std::string last_name = "sn";
  std::string aliases;  // "" = none; proxyAddresses-style "smtp:" prefixes are understood
  // "" = nobody is activated for continuity from this source; otherwise an attribute whose
  // value TRUE/yes/1 activates the user (Active Directory: an extensionAttributeN).
  std::string continuity;
};

// One `users.ldap` entry of a customer manifest, with defaults applied.
struct LdapSource {
  std::string url;  // ldap://host[:port] or ldaps://host[:port]
  bool start_tls = false;
  std::string ca_file;  // PEM; empty: the system's CA bundle
  std::string bind_dn;  // empty: anonymous
  std::string bind_password_ref;
  std::string base_dn;
  std::string filter = "(objectClass=*)";
  std::string scope = "sub";  // sub | one | base
  DirectoryKind directory = DirectoryKind::kOpenLdap;
  DirectoryAttributes attributes;
  std::optional<int64_t> min_users;
  int timeout_seconds = 30;
  bool follow_referrals = false;

  // From a schema-valid source object of a manifest.
  static LdapSource FromJson(const nlohmann::json& source);
};

struct DirectoryEntry {
  std::string dn;
  // Attribute names lower-cased; values in the order the server sent them.
  std::map<std::string, std::vector<std::string>> attributes;

  const std::vector<std::string>* Values(const std::string& name) const;  // any case
};

struct DirectorySearchResult {
  std::vector<DirectoryEntry> entries;  // sorted by DN
  size_t pages = 0;
  size_t referrals_skipped = 0;  // continuation references not followed
};

// Connects, binds, searches every page and disconnects.
gw::Result<DirectorySearchResult> SearchDirectory(const LdapSource& source,
                                                  const std::string& bind_password);

}  // namespace gwctl
